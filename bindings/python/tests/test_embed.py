"""What an embedding application needs (sampler.h, docs/embedding.md):
per-image seeds and first indices, variation seeds, latents, progress
return values, sticky cancel, thread budgets, RGB8/RGBA8, text getters."""
import math
import unittest

import simdiff
from support import flat
from test_sampler import SamplerTest

PER = 64  # floats per image of the fixture model (1 x 8 x 8)


class EmbedTest(SamplerTest):
    def test_first_index_redraws_one_image(self):
        s = self.sampler(steps=3, method="ddpm")
        batch = flat(s(labels=[0, 1, 2, 1], seed=11))
        for i, lab in enumerate([0, 1, 2, 1]):
            one = flat(s(labels=[lab], seed=11, first_index=i))
            self.assertEqual(one, batch[i * PER:(i + 1) * PER])

    def test_per_image_seeds(self):
        s = self.sampler(steps=3, method="ddim", eta=0.5)
        got = flat(s(labels=[0, 2, 2], seed=[5, 9, 9]))
        self.assertEqual(got[:PER], flat(s(labels=[0], seed=5)))
        self.assertEqual(got[PER:2 * PER], flat(s(labels=[2], seed=9)))
        self.assertEqual(got[PER:2 * PER], got[2 * PER:])
        self.assertEqual(len(flat(s(n=2, seed=[1, 2]))), 2 * PER)
        with self.assertRaises(ValueError):
            s(labels=[0, 1, 2], seed=[1, 2])

    def test_variation_and_latents(self):
        s = self.sampler(steps=3, method="dpmpp2m")
        a = flat(s.initial_noise(1, seed=4))
        b = flat(s.initial_noise(1, seed=8))
        m = flat(s.initial_noise(1, seed=4, variation_seed=8, variation_strength=0.25))
        dot = sum(x * y for x, y in zip(a, b))
        th = math.acos(dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b)))
        w0, w1 = math.sin(0.75 * th) / math.sin(th), math.sin(0.25 * th) / math.sin(th)
        for j in range(PER):
            self.assertAlmostEqual(m[j], w0 * a[j] + w1 * b[j], places=5)
        full = s(n=1, seed=4, variation_seed=8, variation_strength=1.0)
        self.assertEqual(flat(full), flat(s(n=1, seed=8)))
        lat = s.initial_noise(1, seed=4, variation_seed=8, variation_strength=0.25)
        self.assertEqual(flat(s(n=1, seed=0, latents=lat)),
                         flat(s(n=1, seed=4, variation_seed=8, variation_strength=0.25)))
        with self.assertRaises(ValueError):
            s(n=1, variation_seed=3)

    def test_progress_truthy_return_stops(self):
        calls = []

        def stop_at_two(step, total, preview):
            calls.append(step)
            return step == 2

        s = self.sampler(steps=5, progress=stop_at_two)
        with self.assertRaises(simdiff.CancelledError):
            s(n=1)
        self.assertEqual(calls, [1, 2])
        s.progress = lambda step, total, preview: None  # falsy: goes on
        self.assertEqual(len(flat(s(n=1))), PER)

    def test_sticky_cancel(self):
        s = self.sampler(steps=2)
        s.cancel()
        s(n=1)  # discarded by default
        s.sticky_cancel = True
        s.cancel()
        with self.assertRaises(simdiff.CancelledError):
            s(n=1)
        s(n=1)  # consumed

    def test_thread_budget(self):
        s = self.sampler(steps=2, num_threads=1)
        self.assertEqual(s.config.num_threads, 1)
        with self.assertRaises(simdiff.InvalidArgumentError):
            self.sampler(num_threads=-3)
        self.assertTrue(simdiff.get_adaptive_threads())

    def test_rgba8(self):
        px = simdiff.to_rgb8([[[[-1.0, 0.0]]]])
        self.assertEqual(list(bytes(px)), [0, 0, 0, 255, 128, 128, 128, 255])
        px = simdiff.to_rgb8([[[0.5]], [[-0.5]], [[2.0]]], alpha=False)
        self.assertEqual(list(bytes(px)), [191, 64, 255])

    def test_texts(self):
        self.assertEqual(self.model.schedule_text, "")
        self.model.set_sampler_defaults(method="ddim", steps=7)
        self.assertIn("method=ddim steps=7", self.model.sampler_text)


if __name__ == "__main__":
    unittest.main()
