"""scripts/eval/emoji_eval.py: the repository's own emoji scorer.

    python3 tests/eval/test_emoji_eval.py   (exit 77 = skipped: no numpy)

Without the emoji data set (CI): the numpy forward pass against torch on
random inputs when torch is importable, and always against a fixture that
torch computed for the shipped weights (tests/reference/
make_emoji_eval_fixture.py); the Frechet distance against closed forms; the
area resize of 128 x 128 and 256 x 256 inputs against hand computations and
the NHWC / NCHW / uint8 / float input forms against each other; bad samples,
bad labels and damaged weight files refused (also by the command, exit 1).
With the data set (SIMDIFF_EMOJI_DIR=DATA, default ../data beside the source
tree, holding emoji64.npy from `emoji_dataset.py DATA --size 64`): real images
score well, noise and blur badly, shuffled labels lower, and the held-out
accuracy matches the metadata; without it those cases are reported as
skipped and the rest still runs.
"""
import hashlib
import os
import struct
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    print('SKIP: numpy is not installed for %s' % sys.executable)
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'eval'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'reference'))
import emoji_eval as ee  # noqa: E402
from make_emoji_eval_fixture import inputs as fixture_inputs  # noqa: E402

EVAL = os.path.join(ROOT, 'scripts', 'eval', 'emoji_eval.py')
FIXTURE = os.path.join(ROOT, 'tests', 'fixtures', 'eval', 'emoji-eval-forward.npz')
DATA = os.environ.get('SIMDIFF_EMOJI_DIR', os.path.join(os.path.dirname(ROOT), 'data'))
HAVE_DATA = os.path.exists(os.path.join(DATA, 'emoji64.npy'))
NO_DATA = 'no emoji data set in %s (set SIMDIFF_EMOJI_DIR=DATA)' % DATA

W, META = ee.load_weights()


class Forward(unittest.TestCase):
    def test_matches_torch_fixture(self):
        fx = np.load(FIXTURE)
        with open(ee.DEFAULT_WEIGHTS, 'rb') as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(str(fx['weights_sha256']), sha,
                         'the classifier changed: rerun tests/reference/make_emoji_eval_fixture.py')
        f, z = ee.forward(W, fixture_inputs())
        self.assertGreater(np.abs(fx['features']).max(), 0.1)   # not all dead
        self.assertLess(np.abs(f - fx['features']).max(), 1e-4 * max(1, np.abs(fx['features']).max()))
        self.assertLess(np.abs(z - fx['logits']).max(), 1e-4 * max(1, np.abs(fx['logits']).max()))

    def test_matches_torch_on_random_inputs(self):
        try:
            import torch
            import torch.nn.functional as F
        except ImportError:
            self.skipTest('torch is not installed')
        x = np.random.RandomState(3).uniform(-1, 1, (7, 3, 64, 64)).astype(np.float32)
        t = {k: torch.from_numpy(v).double() for k, v in W.items()}
        h = torch.from_numpy(x).double()
        for k in ee.CONVS:
            h = F.max_pool2d(F.relu(F.conv2d(h, t[k + '.weight'], t[k + '.bias'], padding=1)), 2)
        f = F.relu(F.linear(h.flatten(1), t['f1.weight'], t['f1.bias'])).numpy()
        z = F.linear(torch.from_numpy(f), t['f2.weight'], t['f2.bias']).numpy()
        fn, zn = ee.forward(W, x, batch=3)     # uneven last batch
        self.assertLess(np.abs(fn - f).max(), 1e-4 * max(1, np.abs(f).max()))
        self.assertLess(np.abs(zn - z).max(), 1e-4 * max(1, np.abs(z).max()))

    def test_weights_are_small_and_record_accuracy(self):
        self.assertLessEqual(os.path.getsize(ee.DEFAULT_WEIGHTS), 2 << 20)
        self.assertGreaterEqual(float(META['heldout_accuracy']), 0.6)


class Frechet(unittest.TestCase):
    def test_one_dimension(self):
        # N(m1, s1^2) vs N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2
        self.assertAlmostEqual(ee.frechet(
            np.array([1.5]), np.array([[4.0]]), np.array([-0.5]), np.array([[0.25]])),
            4.0 + 1.5 ** 2, places=12)

    def test_shifted_features(self):
        # same covariance, means d apart: |d|^2
        f = np.random.RandomState(4).randn(400, 12)
        d = np.linspace(-1, 2, 12)
        self.assertAlmostEqual(ee.fid(f, f + d), float(d @ d), places=8)

    def test_scaled_features(self):
        # C and a^2 C: tr C + a^2 tr C - 2 a tr C = (a - 1)^2 tr C
        f = np.random.RandomState(5).randn(300, 9) @ np.random.RandomState(6).randn(9, 9)
        f -= f.mean(axis=0)                        # zero mean: 3 f has the same
        c = np.cov(f, rowvar=False)
        self.assertAlmostEqual(ee.fid(f, 3.0 * f), 4.0 * np.trace(c), delta=1e-8 * np.trace(c))

    def test_rotated_gaussians(self):
        # diag(a) vs R diag(b) R^T with a 2-D rotation by 90 degrees: diag(b) swapped
        c1, c2 = np.diag([9.0, 1.0]), np.array([[0.0, -1.0], [1.0, 0.0]])
        c2 = c2 @ np.diag([4.0, 16.0]) @ c2.T      # = diag(16, 4)
        want = (3 - 4) ** 2 + (1 - 2) ** 2
        self.assertAlmostEqual(ee.frechet(np.zeros(2), c1, np.zeros(2), c2),
                               want, places=10)


class Inputs(unittest.TestCase):
    def test_128_is_averaged_by_hand(self):
        x = np.zeros((2, 128, 128, 3), np.uint8)
        x[0, 0, 0, 0], x[0, 0, 1, 0], x[0, 1, 0, 0], x[0, 1, 1, 0] = 0, 255, 255, 0
        x[0, 2:4, 0:2, 1] = 51                      # output (1, 0) green: 51 / 127.5 - 1
        x[1, 126, 126:128, 2] = 255                 # half of the last block white
        v = ee.to_input(x)
        self.assertEqual(v.shape, (2, 3, 64, 64))
        self.assertAlmostEqual(float(v[0, 0, 0, 0]), 0.0, places=6)        # (0+255+255+0)/4
        self.assertAlmostEqual(float(v[0, 1, 1, 0]), 51 / 127.5 - 1, places=6)
        self.assertAlmostEqual(float(v[0, 1, 0, 0]), -1.0, places=6)
        self.assertAlmostEqual(float(v[1, 2, 63, 63]), 0.0, places=6)      # (255+255+0+0)/4
        self.assertAlmostEqual(float(v[1, 2, 63, 62]), -1.0, places=6)

    def test_256_float_nchw_matches_hand_average(self):
        rng = np.random.RandomState(7)
        x = rng.uniform(-1, 1, (3, 3, 256, 256)).astype(np.float32)
        v = ee.to_input(x)
        for n, c, i, j in ((0, 0, 0, 0), (1, 2, 17, 40), (2, 1, 63, 63)):
            want = np.mean(x[n, c, 4 * i:4 * i + 4, 4 * j:4 * j + 4], dtype=np.float64)
            self.assertAlmostEqual(float(v[n, c, i, j]), want, places=5)

    def test_forms_agree(self):
        u8 = np.random.RandomState(8).randint(0, 256, (3, 64, 64, 3)).astype(np.uint8)
        f32 = (u8.astype(np.float32) / 127.5 - 1).transpose(0, 3, 1, 2)
        np.testing.assert_allclose(ee.to_input(u8), ee.to_input(f32), atol=1e-6)
        np.testing.assert_allclose(ee.to_input(f32), ee.to_input(f32.transpose(0, 2, 3, 1)),
                                   atol=0)
        self.assertEqual(float(ee.to_input(np.full((2, 3, 64, 64), 1.7, np.float32)).max()), 1.0)

    def test_bad_samples_are_refused(self):
        bad = [np.zeros((4, 3, 60, 60), np.float32),       # not a multiple of 64
               np.zeros((4, 64, 64, 4), np.float32),       # 4 channels
               np.zeros((4, 3, 64, 32), np.float32),       # not square
               np.zeros((4, 3, 96, 96), np.float32),       # 96 = 1.5 x 64
               np.zeros((3, 64, 64), np.float32),          # no channel axis
               np.zeros((1, 3, 64, 64), np.float32),       # one image
               np.zeros((4, 3, 64, 64), np.int16),         # integer but not uint8
               np.full((4, 3, 64, 64), np.nan, np.float32)]
        for x in bad:
            with self.assertRaises(ValueError, msg='%s %s' % (x.dtype, x.shape)):
                ee.to_input(x)

    def test_bad_labels_are_refused(self):
        for y in ([0, 1, 2, 9], [0, 1, 2, -1], [0, 1, 2.5, 3], [0, 1, 2], [0, 1, 2, np.nan]):
            with self.assertRaises(ValueError, msg=str(y)):
                ee.check_labels(np.array(y, np.float32), 4)
        self.assertEqual(ee.check_labels(np.array([0, 8, 1.0, 3]), 4).tolist(), [0, 8, 1, 3])

    def test_command_refuses_with_exit_1(self):
        with tempfile.TemporaryDirectory() as d:
            s, l = os.path.join(d, 's.npy'), os.path.join(d, 'l.npy')
            cases = [(np.zeros((4, 3, 28, 28), np.float32), None, 'multiple of 64'),
                     (np.zeros((4, 3, 64, 64), np.float32), np.arange(5), '5 labels'),
                     (np.zeros((4, 3, 64, 64), np.float32), np.array([0, 1, 2, 12]), '0..8')]
            for x, y, msg in cases:
                np.save(s, x)
                args = [sys.executable, EVAL, s] + ([l] if y is not None else []) + ['--data', d]
                if y is not None:
                    np.save(l, y)
                r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(msg, r.stderr)
                self.assertEqual(r.stdout, '')


class Files(unittest.TestCase):
    def test_damaged_weights_are_refused(self):
        with open(ee.DEFAULT_WEIGHTS, 'rb') as f:
            blob = f.read()
        hlen, = struct.unpack('<Q', blob[:8])
        head = blob[8:8 + hlen]
        nan_at = 8 + hlen + 8                                    # inside the first tensor
        bad = {'truncated data': blob[:8 + hlen + 100],
               'header too long': struct.pack('<Q', len(blob)) + blob[8:],
               'too short': blob[:5],
               'wrong dtype': blob[:8] + head.replace(b'"F32"', b'"I64"', 1) + blob[8 + hlen:],
               'wrong shape': blob[:8] + head.replace(b'[128,1024]', b'[1024,128]', 1)
               + blob[8 + hlen:],
               'not JSON': blob[:8] + b'{' * hlen + blob[8 + hlen:],
               'NaN in a tensor': blob[:nan_at] + struct.pack('<f', float('nan'))
               + blob[nan_at + 4:]}
        self.assertIn(b'[128,1024]', head)
        with tempfile.TemporaryDirectory() as d:
            for what, b in bad.items():
                p = os.path.join(d, 'w.safetensors')
                with open(p, 'wb') as f:
                    f.write(b)
                with self.assertRaises(ValueError, msg=what):
                    ee.load_weights(p)


@unittest.skipUnless(HAVE_DATA, NO_DATA)
class Scores(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xu8, cls.y = ee.load_data(DATA)
        cls.x = ee.to_input(xu8)
        cls.ref, cls.logits = ee.forward(W, cls.x)
        cls.pick = np.random.RandomState(9).choice(len(cls.y), 1000, replace=False)

    def test_heldout_accuracy_matches_metadata(self):
        _, ho = ee.split(self.y, ee.load_families(DATA, len(self.y)))
        acc = np.mean(self.logits[ho].argmax(1) == self.y[ho])
        self.assertAlmostEqual(acc, float(META['heldout_accuracy']), places=4)

    def test_real_images_score_well(self):
        r = ee.evaluate(self.x[self.pick], self.y[self.pick], ref_features=self.ref, weights=W)
        print('real: %s' % r)
        self.assertGreaterEqual(r['class_accuracy'], 0.8)
        self.assertLess(r['fid'], 25.0)   # measured 15.3: the bias of N = 1 000

    def test_noise_and_blur_score_badly(self):
        rng = np.random.RandomState(10)
        real = self.x[self.pick]
        noise = rng.uniform(-1, 1, real.shape).astype(np.float32)
        r = ee.evaluate(noise, self.y[self.pick], ref_features=self.ref, weights=W)
        print('noise: %s' % r)
        self.assertGreater(r['fid'], 500.0)   # measured 3 586
        self.assertLess(r['class_accuracy'], 0.2)
        n, c, h, w = real.shape
        blocky = np.repeat(np.repeat(real.reshape(n, c, 16, 4, 16, 4).mean(axis=(3, 5)),
                                     4, axis=2), 4, axis=3)
        rb = ee.evaluate(blocky, self.y[self.pick], ref_features=self.ref, weights=W)
        rr = ee.evaluate(real, self.y[self.pick], ref_features=self.ref, weights=W)
        print('4x down and up: %s' % rb)
        self.assertGreater(rb['fid'], 3 * rr['fid'])   # measured 78.7 vs 15.3

    def test_shuffled_labels_score_lower(self):
        y = self.y[self.pick]
        r = ee.evaluate(self.x[self.pick], np.random.RandomState(11).permutation(y),
                        ref_features=self.ref, weights=W)
        self.assertLess(r['class_accuracy'], 0.55)   # 0.377 at N = 2 000 (class 1 is 59%)

    def test_command_on_128_images(self):
        x128 = np.repeat(np.repeat(self.x[self.pick[:300]], 2, axis=2), 2, axis=3)
        want = ee.evaluate(self.x[self.pick[:300]], self.y[self.pick[:300]],
                           ref_features=self.ref, weights=W)
        with tempfile.TemporaryDirectory() as d:
            s, l = os.path.join(d, 's.npy'), os.path.join(d, 'l.npy')
            np.save(s, x128)
            np.save(l, self.y[self.pick[:300]].astype(np.float32))
            r = subprocess.run([sys.executable, EVAL, s, l, '--data', DATA],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = dict(line.split() for line in r.stdout.splitlines())
        self.assertEqual(int(out['n']), 300)
        self.assertAlmostEqual(float(out['fid']), want['fid'], delta=2e-3)
        self.assertAlmostEqual(float(out['class_accuracy']), want['class_accuracy'], places=4)


if __name__ == '__main__':
    unittest.main(verbosity=2)
