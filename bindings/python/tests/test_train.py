"""Optimizer and trainer: steps, stats, checkpoints, export, EMA."""
import math

import simdiff
from support import TINY_UVIT, TempDirTest, flat

X = [math.sin(0.11 * i + 0.5) for i in range(4 * 64)]
LABELS = [0, 1, 2, 0]


def make_trainer(m, **kw):
    kw.setdefault("optimizer", simdiff.OptimizerConfig(lr=1e-3, warmup_steps=2))
    return simdiff.Trainer(m, simdiff.Schedule.shifted(8, 64), seed=11, **kw)


class TestTrainer(TempDirTest):
    def test_steps_and_stats(self):
        with simdiff.Model.create(seed=5, **TINY_UVIT) as m, make_trainer(m) as t:
            st = t.stats
            self.assertIsInstance(st, simdiff.TrainerStats)
            self.assertEqual((st.step, st.skipped), (0, 0))
            self.assertTrue(math.isnan(st.last_loss))
            self.assertAlmostEqual(st.lr, 1e-3 / 2)  # linear warmup over 2 steps
            losses = [t.step(X, labels=LABELS) for _ in range(4)]
            for loss in losses:
                self.assertTrue(math.isfinite(loss) and loss > 0)
            st = t.stats
            self.assertEqual((st.step, st.skipped), (4, 0))
            self.assertEqual(st.last_loss, losses[-1])
            self.assertAlmostEqual(st.lr, 1e-3)
            self.assertIs(t.model, m)
            self.assertIn("step 4", repr(t))
            opt = t.optimizer
            self.assertIs(t.optimizer, opt)
            self.assertEqual(opt.step_count, 4)
            self.assertAlmostEqual(opt.lr, 1e-3)

    def test_unconditional_and_shape_checks(self):
        cfg = dict(TINY_UVIT, num_classes=0)
        with simdiff.Model.create(seed=5, **cfg) as m, make_trainer(m) as t:
            self.assertTrue(math.isfinite(t.step(X)))
            with self.assertRaises(ValueError):
                t.step(X[:100])
            with self.assertRaises(ValueError):
                t.step(X, labels=[0, 0])

    def test_checkpoint_resume_is_bit_exact(self):
        with simdiff.Model.create(seed=5, **TINY_UVIT) as m, make_trainer(m) as t:
            t.step(X, labels=LABELS)
            ck = self.path("run.ckpt")
            t.save(ck)
            cont = [t.step(X, labels=LABELS) for _ in range(2)]
        with simdiff.Trainer.load(ck) as t2:
            self.assertEqual(t2.stats.step, 1)
            self.assertIsInstance(t2.model, simdiff.Model)
            resumed = [t2.step(X, labels=LABELS) for _ in range(2)]
            self.assertEqual(resumed, cont)
            m2 = t2.model
        # The model loaded with the trainer outlives it.
        self.assertFalse(m2.closed)
        m2.close()

    def test_corrupted_checkpoint_raises(self):
        with simdiff.Model.create(seed=5, **TINY_UVIT) as m, make_trainer(m) as t:
            ck = self.path("run.ckpt")
            t.save(ck)
        with open(ck, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x40
        with open(ck, "wb") as f:
            f.write(data)
        with self.assertRaises(simdiff.FormatError):
            simdiff.Trainer.load(ck)

    def test_export_and_ema(self):
        with simdiff.Model.create(seed=5, **TINY_UVIT) as m, make_trainer(m) as t:
            for _ in range(3):
                t.step(X, labels=LABELS)
            p = self.path("ema.safetensors")
            t.export(p)
            z = X[:64]
            raw = flat(m.forward(z, 0.5, [1]))
            with t.optimizer.ema_weights() as model:
                self.assertIs(model, m)
                ema = flat(m.forward(z, 0.5, [1]))
            self.assertEqual(flat(m.forward(z, 0.5, [1])), raw)
            self.assertNotEqual(ema, raw)
            with simdiff.Model.load(p) as e:
                self.assertEqual(flat(e.forward(z, 0.5, [1])), ema)
            t.export(self.path("ema16.safetensors"), fp16=True)
            with simdiff.Model.load(self.path("ema16.safetensors")) as e16:
                self.assertEqual(e16.num_params, m.num_params)

    def test_keywords(self):
        with simdiff.Model.create(seed=5, **TINY_UVIT) as m:
            with self.assertRaises(TypeError) as cm:
                simdiff.Trainer(m, "shifted(8,64)", los="v")
            self.assertIn("label_dropout", str(cm.exception))
            with self.assertRaises(TypeError):
                simdiff.Trainer(m, "shifted(8,64)", optimizer=dict(learning_rate=1))
            with self.assertRaises(TypeError):
                simdiff.Trainer(m, 64)
            cfg = simdiff.TrainerConfig(loss="v", label_dropout=0.0)
            with simdiff.Trainer(m, "shifted(8,64)", cfg, seed=3,
                                 optimizer={"lr": 1e-3}) as t:
                self.assertTrue(math.isfinite(t.step(X, LABELS)))


class TestOptimizer(TempDirTest):
    def test_trainer_owns_it(self):
        with simdiff.Model.create(seed=5, **TINY_UVIT) as m:
            with simdiff.Trainer(m, "shifted(8,64)",
                                 optimizer=dict(lr=5e-4, warmup_steps=0)) as t:
                o = t.optimizer
                self.assertEqual(o.step_count, 0)
                self.assertAlmostEqual(o.lr, 5e-4)
                o.swap_ema()
                o.swap_ema()
            with self.assertRaises(simdiff.InvalidArgumentError):
                simdiff.Trainer(m, "shifted(8,64)", optimizer=dict(lr=-1.0))
            with self.assertRaises(TypeError):
                simdiff.Optimizer(m)
