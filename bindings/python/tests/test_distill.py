"""Distiller (distill.h): steps, rounds, stats, checkpoints, export with the
stored sampler settings, bad arguments."""
import math

import simdiff
from support import TINY_UVIT, TempDirTest, flat

X = [math.sin(0.13 * i + 0.2) for i in range(4 * 64)]
LABELS = [0, 1, 2, 0]


class TestDistiller(TempDirTest):
    def teacher_file(self):
        """A tiny teacher with nonzero outputs (3 training steps) and a
        schedule, saved: load it twice for a teacher and a student."""
        path = self.path("teacher.safetensors")
        with simdiff.Model.create(seed=5, **TINY_UVIT) as m, \
                simdiff.Trainer(m, simdiff.Schedule.shifted(8, 64), seed=2,
                                optimizer=dict(lr=1e-2, warmup_steps=1, ema_decay=0)) as t:
            for _ in range(3):
                t.step(X, labels=LABELS)
            m.save_safetensors(path)
        return path

    def make(self, path, **kw):
        t = simdiff.Model.load(path)
        s = simdiff.Model.load(path)
        kw.setdefault("optimizer", dict(lr=1e-3, warmup_steps=2, ema_decay=0.9))
        return t, s, simdiff.Distiller(t, s, teacher_steps=8, guidance=3, seed=1, **kw)

    def test_rounds_stats_and_export(self):
        t, s, d = self.make(self.teacher_file())
        with t, s, d:
            self.assertIsNone(t.distill_info)
            st = d.stats
            self.assertIsInstance(st, simdiff.DistillStats)
            self.assertEqual((st.round, st.teacher_steps, st.student_steps, st.step),
                             (0, 8, 4, 0))
            self.assertEqual(st.guidance, 3)
            for _ in range(3):
                loss = d.step(X, labels=LABELS)
                self.assertTrue(math.isfinite(loss) and loss > 0)
            self.assertEqual(d.optimizer.step_count, 3)
            self.assertIs(d.model, s)
            d.next_round()
            st = d.stats
            self.assertEqual((st.round, st.teacher_steps, st.student_steps, st.step,
                              st.total_steps), (1, 4, 2, 0, 3))
            self.assertIn("round 1 (4 -> 2 steps)", repr(d))
            d.step(X, labels=LABELS)
            out = self.path("student.safetensors")
            d.export(out)
            with simdiff.Model.load(out) as m:
                c = m.sampler_defaults
                self.assertEqual(c.method, simdiff.SamplerMethod.DDIM)
                self.assertEqual((c.steps, c.eta, c.guidance), (2, 0, 1))
                self.assertEqual(m.distill_info, {"steps": 2, "teacher_steps": 8,
                                                  "rounds": 2, "guidance": 3})
                with simdiff.Sampler(m) as smp:
                    out = flat(smp(labels=[0, 1], seed=3))
                    self.assertEqual(len(out), 2 * 64)
                    self.assertTrue(all(math.isfinite(v) for v in out))
            d.next_round()  # 4 -> 2: the student samples in 1 step
            with self.assertRaises(simdiff.MisuseError):
                d.next_round()

    def test_checkpoint_resume_is_bit_exact(self):
        t, s, d = self.make(self.teacher_file())
        with t, s, d:
            d.step(X, labels=LABELS)
            d.next_round()
            d.step(X, labels=LABELS)
            ck = self.path("run.sdc")
            d.save(ck)
            cont = [d.step(X, labels=LABELS) for _ in range(2)]
        with simdiff.Distiller.load(ck) as d2:
            self.assertEqual((d2.stats.round, d2.stats.step, d2.stats.total_steps), (1, 1, 2))
            resumed = [d2.step(X, labels=LABELS) for _ in range(2)]
            self.assertEqual(resumed, cont)
            m2 = d2.model
        self.assertFalse(m2.closed)
        m2.close()

    def test_bad_arguments(self):
        path = self.teacher_file()
        t = simdiff.Model.load(path)
        s = simdiff.Model.load(path)
        with t, s:
            for kw, field in ((dict(teacher_steps=7), "teacher_steps"),
                              (dict(teacher_steps=0), "teacher_steps"),
                              (dict(guidance=float("nan")), "guidance"),
                              (dict(guidance=-1.0), "guidance")):
                with self.subTest(**kw):
                    with self.assertRaises(simdiff.InvalidArgumentError) as cm:
                        simdiff.Distiller(t, s, **kw)
                    self.assertIn(field, str(cm.exception))
            with self.assertRaises(TypeError):
                simdiff.Distiller(t, "student")
            with self.assertRaises(ValueError):
                simdiff.DistillConfig(weighting="l1")
            c = simdiff.DistillConfig(weighting="snr-plus-one")
            self.assertEqual(c.weighting, simdiff.DistillWeighting.SNR_PLUS_ONE)
            with simdiff.Model.create(seed=1, **dict(TINY_UVIT, num_classes=2)) as other:
                with self.assertRaises(simdiff.InvalidArgumentError) as cm:
                    simdiff.Distiller(t, other)
                self.assertIn("num_classes", str(cm.exception))
            with simdiff.Distiller(t, s, teacher_steps=4) as d:
                with self.assertRaises(ValueError):
                    d.step(X[:10])
                with self.assertRaises(simdiff.InvalidArgumentError):
                    d.step(X, labels=[0, 1, 2, 3])
            with self.assertRaises(simdiff.FormatError):
                simdiff.Distiller.load(path)
