"""Sampler: results, progress callbacks, cancellation, threads."""
import os
import signal
import threading
import time
import unittest

import simdiff
from support import f32, fixture, flat, shape

MODEL = fixture("model", "uvit_plain.safetensors")  # 1x8x8, 3 classes, no schedule
SCHED = "shifted(8,64)"


class SamplerTest(unittest.TestCase):
    def setUp(self):
        self.model = simdiff.Model.load(MODEL)
        self.addCleanup(self.model.close)

    def sampler(self, **kw):
        kw.setdefault("schedule", SCHED)
        s = simdiff.Sampler(self.model, **kw)
        self.addCleanup(s.close)
        return s


class TestEdit(SamplerTest):
    """Image-to-image, inpainting, variations (docs/editing.md)."""
    def init_images(self, n):
        return [[[[((i * 64 + y * 8 + x) % 17) / 8.5 - 1.0 for x in range(8)]
                  for y in range(8)]] for i in range(n)]

    def test_strength_one_without_mask_is_plain(self):
        s = self.sampler(steps=4, method="dpmpp2m")
        init = self.init_images(2)
        self.assertEqual(flat(s.run(labels=[0, 1], seed=5, init=init)),
                         flat(s(labels=[0, 1], seed=5)))
        self.assertNotEqual(flat(s.run(labels=[0, 1], seed=5, init=init, strength=0.6)),
                            flat(s(labels=[0, 1], seed=5)))

    def test_inpainting_keeps_pixels(self):
        s = self.sampler(steps=6, method="ddpm", guidance=2.0)
        init = self.init_images(2)
        mask = [[1.0 if y < 4 else 0.0 for x in range(8)] for y in range(8)]
        out = s.run(labels=[2, 0], seed=1, init=init, mask=mask, resample=2)
        o, x = flat(out), flat(init)
        for i in range(2):
            for y in range(8):
                for xx in range(8):
                    j = i * 64 + y * 8 + xx
                    if y < 4:
                        self.assertEqual(o[j], f32(x[j]))
            self.assertNotEqual(o[i * 64 + 32:i * 64 + 64],
                                [f32(v) for v in x[i * 64 + 32:i * 64 + 64]])

    def test_variations_and_counts(self):
        s = self.sampler(steps=8, method="ddim")
        one = self.init_images(1)[0]
        out = s.run(n=3, seed=2, init=one, strength=0.5)
        self.assertEqual(shape(out), (3, 1, 8, 8))
        self.assertEqual(shape(s.run(seed=2, init=self.init_images(3), strength=0.5)),
                         (3, 1, 8, 8))
        self.assertEqual(s.evals(), 8)
        self.assertEqual(s.evals(strength=0.5), 4)
        self.assertEqual(s.evals(strength=0.5, masked=True, resample=2, resample_jump=1),
                         4 + 3)

    def test_bad_edits(self):
        s = self.sampler(steps=4)
        init = self.init_images(1)[0]
        with self.assertRaises(ValueError):
            s.run(n=1, init=[[0.0] * 8] * 8)  # no channel axis
        with self.assertRaises(ValueError):
            s.run(n=1, init=init, mask=[[1.0] * 4] * 4)
        with self.assertRaises(simdiff.InvalidArgumentError):
            s.run(n=1, init=init, strength=0.0)
        with self.assertRaises(simdiff.InvalidArgumentError):
            s.run(n=1, strength=0.5)  # no init
        with self.assertRaises(simdiff.InvalidArgumentError):
            s.run(n=1, init=[[[2.0] * 8] * 8])
        with self.assertRaises(simdiff.InvalidArgumentError):
            s.run(n=1, init=[[[float("nan")] * 8] * 8])
        with self.assertRaises(ValueError):
            s.run(n=1, init=init, mask=[[1.0] * 8] * 8, resample=0)


class TestResults(SamplerTest):
    def test_shape_range_and_seed(self):
        s = self.sampler(steps=4)
        a = s(labels=[0, 1, 2], seed=3)
        self.assertEqual(shape(a), (3, 1, 8, 8))
        vals = flat(a)
        self.assertTrue(all(-1.0 <= v <= 1.0 for v in vals))
        self.assertEqual(flat(s(labels=[0, 1, 2], seed=3)), vals)
        self.assertNotEqual(flat(s(labels=[0, 1, 2], seed=4)), vals)
        self.assertEqual(flat(s.sample(labels=(0, 1, 2), seed=3)), vals)

    def test_image_i_does_not_depend_on_the_batch(self):
        s = self.sampler(steps=3, method="ddpm")
        three = flat(s(labels=[2, 0, 1], seed=11))
        one = flat(s(labels=[2], seed=11))
        self.assertEqual(one, three[:64])

    def test_arguments(self):
        s = self.sampler(steps=2)
        self.assertEqual(shape(s(n=2)), (2, 1, 8, 8))
        with self.assertRaises(TypeError):
            s()
        with self.assertRaises(ValueError):
            s(labels=[0, 1], n=3)
        with self.assertRaises(OverflowError):
            s(n=1, seed=-1)
        with self.assertRaises(OverflowError):
            s(n=1, seed=2 ** 64)
        self.assertEqual(shape(s(n=1, seed=2 ** 64 - 1)), (1, 1, 8, 8))
        with self.assertRaises(simdiff.InvalidArgumentError):
            s(labels=[5])
        with self.assertRaises(TypeError):
            s(labels=[0.5])

    def test_configuration(self):
        s = self.sampler(method="ddim", steps=7, eta=0.25, guidance=3.0,
                         spacing="uniform_logsnr", batch_chunk=2)
        self.assertEqual((s.method, s.steps, s.eta, s.guidance, s.spacing),
                         (simdiff.SamplerMethod.DDIM, 7, 0.25, 3.0,
                          simdiff.Spacing.UNIFORM_LOGSNR))
        self.assertEqual(s.schedule, SCHED)
        self.assertEqual(s.config.batch_chunk, 2)
        self.assertIn("ddim, 7 steps", repr(s))
        with self.assertRaises(simdiff.InvalidArgumentError) as cm:
            simdiff.Sampler(self.model)  # the fixture model has no schedule
        self.assertIn("schedule", str(cm.exception))
        with self.assertRaises(simdiff.InvalidArgumentError):
            self.sampler(eta=2.0)
        with self.assertRaises(TypeError) as cm:
            self.sampler(stpes=3)
        self.assertIn("steps", str(cm.exception))
        cfg = simdiff.SamplerConfig(steps=3)
        self.assertEqual(self.sampler(config=cfg, guidance=2.0).steps, 3)


class TestStoredSettings(SamplerTest):
    def test_settings_travel_with_the_file(self):
        m = self.model
        self.assertEqual(m.sampler_defaults, simdiff.SamplerConfig())
        m.set_schedule(SCHED)
        m.set_sampler_defaults(method="ddim", steps=5, eta=0.5, guidance=2.5)
        want = simdiff.SamplerConfig(method="ddim", steps=5, eta=0.5, guidance=2.5)
        self.assertEqual(m.sampler_defaults, want)
        with self.assertRaises(simdiff.InvalidArgumentError):
            m.set_sampler_defaults(steps=0)
        self.assertEqual(m.sampler_defaults, want)  # a refused call changes nothing
        tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "py-defaults-%d.safetensors"
                           % os.getpid())
        self.addCleanup(lambda: os.path.exists(tmp) and os.unlink(tmp))
        m.save_safetensors(tmp, f16=True)
        with simdiff.Model.load(tmp) as m2:
            self.assertEqual(m2.sampler_defaults, want)
            # Sampler(model) with no settings uses the stored ones and the
            # stored schedule: the same images as the explicit config.
            with simdiff.Sampler(m2) as s, simdiff.Sampler(m2, config=want) as e, \
                    simdiff.Sampler(m2, config=simdiff.SamplerConfig()) as lib:
                self.assertEqual((s.method, s.steps, s.guidance),
                                 (simdiff.SamplerMethod.DDIM, 5, 2.5))
                a = flat(s(labels=[0, 2], seed=9))
                self.assertEqual(a, flat(e(labels=[0, 2], seed=9)))
                self.assertNotEqual(a, flat(lib(labels=[0, 2], seed=9)))
            m2.set_sampler_defaults(None)
            self.assertEqual(m2.sampler_defaults, simdiff.SamplerConfig())
        with self.assertRaises(TypeError):
            m.set_schedule(3)

    def test_guidance_interval(self):
        m = self.model
        m.set_schedule(SCHED)
        gi = dict(guidance=2.5, guidance_interval=True, guidance_logsnr_min=-2.0,
                  guidance_logsnr_max=1.5)
        with simdiff.Sampler(m, method="ddim", steps=6, **gi) as s, \
                simdiff.Sampler(m, method="ddim", steps=6, guidance=2.5) as every:
            self.assertNotEqual(flat(s(labels=[0, 1], seed=3)),
                                flat(every(labels=[0, 1], seed=3)))
        with self.assertRaises(simdiff.InvalidArgumentError) as cm:
            simdiff.Sampler(m, guidance=2.0, guidance_interval=True,
                            guidance_logsnr_min=1.0, guidance_logsnr_max=-1.0)
        self.assertIn("guidance interval", str(cm.exception))
        m.set_sampler_defaults(method="ddim", steps=6, **gi)
        self.assertEqual(m.sampler_defaults,
                         simdiff.SamplerConfig(method="ddim", steps=6, **gi))
        m.set_sampler_defaults(None)


class TestProgress(SamplerTest):
    def test_calls_and_previews(self):
        calls = []
        s = self.sampler(steps=6, progress=lambda *a: calls.append(a), preview_every=2)
        out = s(labels=[0, 1], seed=5)
        self.assertEqual([(c[0], c[1]) for c in calls], [(k, 6) for k in range(1, 7)])
        for step, _, preview in calls:
            if step % 2:
                self.assertIsNone(preview)
            else:
                self.assertEqual(shape(preview), (2, 1, 8, 8))
        # The preview is a copy that outlives the callback; the last is x̂.
        self.assertEqual(flat(calls[-1][2]), flat(out))
        s.preview_every = 0
        s.progress = None
        calls.clear()
        self.assertEqual(flat(s(labels=[0, 1], seed=5)), flat(out))
        self.assertEqual(calls, [])
        with self.assertRaises(TypeError):
            s.progress = 42

    def test_a_raising_callback_cancels_and_the_exception_propagates(self):
        seen = []

        class Stop(Exception):
            pass

        def progress(step, total, preview):
            seen.append(step)
            if step == 3:
                raise Stop("enough")

        s = self.sampler(steps=8, progress=progress)
        try:
            s(labels=[1], seed=0)
            self.fail("Stop not raised")
        except Stop as e:
            exc = e
        self.assertEqual(str(exc), "enough")
        self.assertEqual(seen, [1, 2, 3])
        # The traceback reaches into the callback.
        tb, frames = exc.__traceback__, []
        while tb:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        self.assertIn("progress", frames)
        # The sampler is usable afterwards and nothing was kept.
        s.progress = None
        self.assertEqual(shape(s(labels=[1], seed=0)), (1, 1, 8, 8))
        self.assertIsNone(s._state.exc)

    def test_raising_at_the_last_step_still_cancels(self):
        def progress(step, total, preview):
            if step == total:
                raise simdiff.CancelledError("stop at the end")
        s = self.sampler(steps=3, progress=progress)
        with self.assertRaises(simdiff.CancelledError):
            s(n=1)

    def test_reentrant_use_from_the_callback_is_refused(self):
        s = self.sampler(steps=3)
        s.progress = lambda *a: s(n=1)           # the same sampler, again
        with self.assertRaises(simdiff.MisuseError):
            s(n=1)
        s.progress = lambda *a: s.close()        # freeing it mid-run
        with self.assertRaises(simdiff.MisuseError):
            s(n=1)
        s.progress = lambda *a: self.model.close()  # freeing its model mid-run
        with self.assertRaises(simdiff.MisuseError):
            s(n=1)
        self.assertFalse(s.closed)
        self.assertFalse(self.model.closed)

    def test_keyboard_interrupt_stops_a_run(self):
        if threading.current_thread() is not threading.main_thread():
            self.skipTest("signals need the main thread")
        started = threading.Event()
        t0 = time.monotonic()

        def progress(step, total, preview):
            started.set()
            if time.monotonic() - t0 > 120:
                raise AssertionError("SIGINT was not delivered")

        s = self.sampler(steps=100000, progress=progress)

        def interrupt():
            started.wait(60)
            os.kill(os.getpid(), signal.SIGINT)

        th = threading.Thread(target=interrupt)
        old = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            th.start()
            with self.assertRaises(KeyboardInterrupt):
                s(n=1)
        finally:
            th.join()
            signal.signal(signal.SIGINT, old)
        self.assertLess(time.monotonic() - t0, 120)


class TestCancelAndThreads(SamplerTest):
    def test_cancel_from_another_thread(self):
        started = threading.Event()
        t0 = time.monotonic()

        def progress(step, total, preview):
            started.set()
            if time.monotonic() - t0 > 120:
                raise AssertionError("cancel() did not stop the run")

        s = self.sampler(steps=100000, progress=progress)
        th = threading.Thread(target=lambda: (started.wait(60), s.cancel()))
        th.start()
        try:
            with self.assertRaises(simdiff.CancelledError) as cm:
                s(n=2)
        finally:
            th.join()
        self.assertEqual(cm.exception.status, simdiff.Status.CANCELLED)
        s.cancel()  # between runs: discarded
        s.progress = None
        self.assertEqual(shape(simdiff.Sampler(self.model, steps=2, schedule=SCHED)(n=1)),
                         (1, 1, 8, 8))

    def test_samplers_on_two_threads_match_sequential_runs(self):
        a = self.sampler(steps=4, method="ddpm")
        b = self.sampler(steps=4, method="ddim", eta=0.3)
        want = [flat(a(labels=[0, 1], seed=1)), flat(b(labels=[2, 1], seed=2))]
        got = [None, None]
        errors = []

        def run(i, s, labels, seed):
            try:
                for _ in range(3):
                    got[i] = flat(s(labels=labels, seed=seed))
            except BaseException as e:  # reported below
                errors.append(e)
        ths = [threading.Thread(target=run, args=(0, a, [0, 1], 1)),
               threading.Thread(target=run, args=(1, b, [2, 1], 2))]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(got, want)


if __name__ == "__main__":
    unittest.main()
