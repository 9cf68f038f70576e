"""scripts/eval/fmnist_eval.py: the repository's own Fashion-MNIST scorer.

    python3 tests/eval/test_fmnist_eval.py   (exit 77 = skipped: no numpy / data)

Real test images must score well (class accuracy >= 0.85, small FID against
a disjoint subset of the test set), noise must score badly (accuracy near
chance, large FID); the Frechet distance is checked against closed forms and
against an eigendecomposition of the non-symmetric product C1 C2; the numpy
forward pass against torch when torch is importable; damaged weight files
must be refused.
"""
import os
import struct
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
import fmnist_eval as fe  # noqa: E402

DATA = os.environ.get('SIMDIFF_FMNIST_DIR', fe.DEFAULT_DATA)
if not os.path.exists(os.path.join(DATA, 't10k-images-idx3-ubyte.gz')):
    print('SKIP: no Fashion-MNIST in %s' % DATA)
    sys.exit(77)

W, META = fe.load_weights()
XTE_U8, YTE = fe.load_fmnist('t10k', DATA)
REAL = fe.to_input(XTE_U8[:500])
REF_F, _ = fe.forward(W, fe.to_input(XTE_U8[5000:7000]))   # disjoint reference subset


class Scores(unittest.TestCase):
    def test_real_test_images_score_well(self):
        r = fe.evaluate(REAL, YTE[:500], W, ref_features=REF_F)
        print('real: %s' % r)
        self.assertGreaterEqual(r['class_accuracy'], 0.85)
        self.assertLess(r['fid'], 10.0)   # measured 4.9 (finite-N bias at 500)

    def test_noise_scores_badly(self):
        rng = np.random.RandomState(1)
        noise = rng.uniform(-1, 1, REAL.shape).astype(np.float32)
        r = fe.evaluate(noise, np.arange(500) % 10, W, ref_features=REF_F)
        print('noise: %s' % r)
        self.assertLess(r['class_accuracy'], 0.2)
        self.assertGreater(r['fid'], 100.0)

    def test_flipped_labels_score_zero(self):
        r = fe.evaluate(REAL[:200], (YTE[:200] + 5) % 10, W, ref_features=REF_F)
        self.assertLess(r['class_accuracy'], 0.05)

    def test_metadata_records_test_accuracy(self):
        self.assertGreaterEqual(float(META['test_accuracy']), 0.88)


class Frechet(unittest.TestCase):
    def test_diagonal_closed_form(self):
        a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
        m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
        want = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
        self.assertAlmostEqual(fe.frechet(m1, np.diag(a), m2, np.diag(b)), want, places=9)

    def test_general_matches_product_eigenvalues(self):
        rng = np.random.RandomState(0)
        for d in (2, 7, 30):
            a, b = rng.randn(d, d + 3), rng.randn(d, d + 3)
            c1, c2 = a @ a.T, b @ b.T
            mu1, mu2 = rng.randn(d), rng.randn(d)
            # eigenvalues of C1 C2 are real and non-negative (similar to a PSD matrix)
            tr = np.sum(np.sqrt(np.abs(np.linalg.eigvals(c1 @ c2).real)))
            want = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * tr
            self.assertAlmostEqual(fe.frechet(mu1, c1, mu2, c2), want, delta=1e-8 * abs(want))

    def test_identical_sets_score_zero(self):
        f = np.random.RandomState(2).randn(300, 20)
        self.assertLess(abs(fe.fid(f, f)), 1e-6)


class Forward(unittest.TestCase):
    def test_matches_torch(self):
        try:
            import torch
            import torch.nn.functional as F
        except ImportError:
            self.skipTest('torch is not installed')
        x = REAL[:20]
        t = {k: torch.from_numpy(v) for k, v in W.items()}
        h = torch.from_numpy(x)
        for k in ('c1', 'c2', 'c3'):
            h = F.max_pool2d(F.relu(F.conv2d(h, t[k + '.weight'], t[k + '.bias'], padding=1)), 2)
        f = F.relu(F.linear(h.flatten(1), t['f1.weight'], t['f1.bias']))
        z = F.linear(f, t['f2.weight'], t['f2.bias'])
        fn, zn = fe.forward(W, x)
        self.assertLess(np.abs(fn - f.numpy()).max(), 1e-3)
        self.assertLess(np.abs(zn - z.numpy()).max(), 1e-3)


class Files(unittest.TestCase):
    def test_damaged_weights_are_refused(self):
        with open(fe.DEFAULT_WEIGHTS, 'rb') as f:
            blob = f.read()
        hlen, = struct.unpack('<Q', blob[:8])
        bad = [blob[:8 + hlen + 100],                          # truncated data
               struct.pack('<Q', len(blob)) + blob[8:],         # header too long
               blob[:8] + blob[8:8 + hlen].replace(b'"F32"', b'"I64"', 1) + blob[8 + hlen:]]
        with tempfile.TemporaryDirectory() as d:
            for i, b in enumerate(bad):
                p = os.path.join(d, 'w%d.safetensors' % i)
                with open(p, 'wb') as f:
                    f.write(b)
                with self.assertRaises(ValueError):
                    fe.load_weights(p)

    def test_bad_samples_are_refused(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, 's.npy')
            np.save(p, np.zeros((4, 1, 28, 28), np.float32))
            with self.assertRaises(ValueError):
                fe.load_samples(p)
            q = os.path.join(d, 'l.npy')
            np.save(q, np.array([0, 1, 2, 10], np.float32))
            with self.assertRaises(ValueError):
                fe.load_labels(q, 4)


if __name__ == '__main__':
    unittest.main(verbosity=2)
