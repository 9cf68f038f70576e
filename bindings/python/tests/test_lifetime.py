"""Deterministic release: close(), with-blocks, garbage collection, the
model-outlives-its-users rule, interpreter exit."""
import gc
import unittest

import simdiff
from support import TINY_UVIT, fixture, run_python

SCHED = "shifted(8,64)"


def live():
    return simdiff.live_handles()


class TestRelease(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.before = live()

    def assertNoLeak(self):
        self.assertEqual(live(), self.before)

    def test_close_releases_everything(self):
        m = simdiff.Model.create(seed=1, **TINY_UVIT)
        s = simdiff.Schedule(SCHED)
        smp = simdiff.Sampler(m, schedule=s, steps=2)
        t = simdiff.Trainer(m, s)
        o = t.optimizer
        ds = simdiff.Dataset.open(fixture("io", "npy", "u8_nhw.npy"))
        self.assertEqual(live()["Model"], self.before.get("Model", 0) + 1)
        for h in (smp, o, t, m, s, ds):
            h.close()
            self.assertTrue(h.closed)
        self.assertNoLeak()

    def test_with_blocks(self):
        with simdiff.Model.load(fixture("model", "uvit_plain.safetensors")) as m:
            with simdiff.Sampler(m, schedule=SCHED, steps=2) as smp:
                smp(n=1)
            self.assertTrue(smp.closed)
        self.assertTrue(m.closed)
        self.assertNoLeak()
        with self.assertRaises(simdiff.MisuseError):
            with m:
                pass

    def test_refcounting_frees_without_the_cycle_collector(self):
        gc.disable()
        try:
            m = simdiff.Model.create(seed=1, **TINY_UVIT)
            smp = simdiff.Sampler(m, schedule=SCHED, steps=2,
                                  progress=lambda *a: None)
            t = simdiff.Trainer(m, SCHED)
            opt = t.optimizer
            self.assertIs(opt.model, m)
            del opt, t, smp, m
            self.assertNoLeak()
        finally:
            gc.enable()

    def test_users_keep_the_model_alive(self):
        m = simdiff.Model.load(fixture("model", "uvit_plain.safetensors"))
        smp = simdiff.Sampler(m, schedule=SCHED, steps=2)
        del m
        gc.collect()
        self.assertEqual(live()["Model"], self.before.get("Model", 0) + 1)
        smp(n=1)                        # still works
        del smp
        self.assertNoLeak()

    def test_closing_the_model_closes_its_users(self):
        m = simdiff.Model.create(seed=1, **TINY_UVIT)
        smp = simdiff.Sampler(m, schedule=SCHED, steps=2)
        t = simdiff.Trainer(m, SCHED)
        opt = t.optimizer
        m.close()
        for h in (smp, t, opt):
            self.assertTrue(h.closed, h)
        with self.assertRaises(simdiff.MisuseError):
            smp(n=1)
        with self.assertRaises(simdiff.MisuseError):
            t.step([0.0] * 64)
        with self.assertRaises(simdiff.MisuseError):
            opt.lr
        self.assertIn("closed", repr(t))
        self.assertNoLeak()

    def test_trainer_optimizer_is_borrowed(self):
        m = simdiff.Model.create(seed=1, **TINY_UVIT)
        t = simdiff.Trainer(m, SCHED)
        opt = t.optimizer
        opt.close()                     # not ours to free: just detached
        self.assertFalse(t.closed)
        self.assertIsNot(t.optimizer, opt)
        self.assertEqual(t.optimizer.step_count, 0)
        t.close()
        m.close()
        self.assertNoLeak()

    def test_loaded_trainer_owns_a_model_handle(self):
        import tempfile, os
        with tempfile.TemporaryDirectory() as d:
            with simdiff.Model.create(seed=1, **TINY_UVIT) as m, \
                    simdiff.Trainer(m, SCHED) as t:
                t.save(os.path.join(d, "c"))
            t2 = simdiff.Trainer.load(os.path.join(d, "c"))
            m2 = t2.model
            del t2
            self.assertFalse(m2.closed)
            m2.close()
        self.assertNoLeak()

    def test_many_handles(self):
        with simdiff.Model.load(fixture("model", "uvit_plain.safetensors")) as m:
            for i in range(200):
                with simdiff.Sampler(m, schedule=SCHED, steps=1) as s:
                    if i % 50 == 0:
                        s(n=1)
                simdiff.Schedule.shifted(8 + i)  # dropped at once
        self.assertNoLeak()


class TestExit(unittest.TestCase):
    def test_unclosed_handles_at_exit(self):
        # Everything left open is freed by the finalizers at exit, users
        # before their model; the interpreter exits cleanly.
        code = (
            "import simdiff\n"
            "m = simdiff.Model.load(%r)\n"
            "s = simdiff.Sampler(m, schedule='shifted(8,64)', steps=2, progress=print)\n"
            "t = simdiff.Trainer(m, 'shifted(8,64)')\n"
            "o = t.optimizer\n"
            "s(n=1)\n"
            "cycle = [m, s]; cycle.append(cycle)\n"
            "print('done', sorted(simdiff.live_handles().items()))\n"
        ) % fixture("model", "uvit_plain.safetensors")
        r = run_python(code)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("done [('Model', 1), ('Sampler', 1), ('Trainer', 1)]", r.stdout)
        self.assertEqual(r.stderr, "")


if __name__ == "__main__":
    unittest.main()
