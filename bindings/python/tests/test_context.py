"""Sequence conditioning (docs/text.md): contexts through Model.forward,
Trainer.step and Sampler.run; lengths and shapes checked."""
import math

import simdiff
from support import TINY_UVIT, TempDirTest, flat

CTX = dict(TINY_UVIT, num_classes=0, ctx_dim=4, ctx_len=3)
X = [0.8] * 64 + [-0.8] * 64
# Example 0: two tokens; example 1: one token (its other slots unused).
CONTEXTS = [[[1, 0, 0.5, 0], [0, 1, 0, -0.5], [0, 0, 0, 0]],
            [[0, 0, -1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]]
LENGTHS = [2, 1]


class TestContext(TempDirTest):
    def test_config_and_forward(self):
        with simdiff.Model.create(seed=3, **CTX) as m:
            self.assertEqual((m.config.ctx_dim, m.config.ctx_len), (4, 3))
            z = [math.sin(0.1 * i) for i in range(128)]
            a = flat(m.forward(z, [0.5, -1.0], contexts=CONTEXTS, context_lengths=LENGTHS))
            b = flat(m.forward(z, [0.5, -1.0]))
            # A fresh model ignores its context (zero-initialized outputs).
            self.assertEqual(a, b)
            with self.assertRaises(simdiff.InvalidArgumentError) as cm:
                m.forward(z, [0.5, -1.0], contexts=CONTEXTS, context_lengths=[2, 0])
            self.assertIn("context_len[1] = 0", str(cm.exception))
            with self.assertRaises(ValueError):
                m.forward(z, [0.5, -1.0], contexts=CONTEXTS[:1])
            with self.assertRaises(ValueError):
                m.forward(z, [0.5, -1.0], context_lengths=LENGTHS)
        with simdiff.Model.create(seed=3, **TINY_UVIT) as m:
            self.assertEqual(m.config.ctx_dim, 0)
            with self.assertRaises(ValueError):
                m.forward([0.0] * 64, 0.0, contexts=CONTEXTS[:1])

    def test_train_and_sample(self):
        with simdiff.Model.create(seed=3, **CTX) as m:
            tc = simdiff.TrainerConfig(seed=2)
            self.assertAlmostEqual(tc.ctx_dropout, 0.1)
            t = simdiff.Trainer(m, simdiff.Schedule.shifted(8, 64), config=tc,
                                optimizer=simdiff.OptimizerConfig(lr=3e-3, warmup_steps=2))
            with t:
                for _ in range(3):
                    loss = t.step(X, contexts=CONTEXTS, context_lengths=LENGTHS)
                    self.assertTrue(math.isfinite(loss))
                with self.assertRaises(simdiff.InvalidArgumentError):
                    t.step(X, contexts=CONTEXTS, context_lengths=[4, 1])
                self.assertEqual(t.stats.step, 3)
            with simdiff.Sampler(m, steps=4, guidance=2.0) as s:
                out = flat(s.run(n=2, seed=1, contexts=CONTEXTS, context_lengths=LENGTHS))
                self.assertEqual(len(out), 128)
                self.assertTrue(all(math.isfinite(v) for v in out))
