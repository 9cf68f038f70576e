"""scripts/eval/mirror_check.py: which way images face, class by class.

    python3 tests/eval/test_mirror_check.py   (exit 77 = skipped: no numpy / data)

Built images with known answers (the class mean itself: 0, its mirror
image: 1), Fashion-MNIST's shoes (the training images of classes 5, 7 and 9
face one way: share near 0; mirrored copies of them: near 1), the command
line on files, and mismatched shapes refused.
"""
import os
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
SCRIPT = os.path.join(ROOT, 'scripts', 'eval', 'mirror_check.py')
sys.path.insert(0, os.path.dirname(SCRIPT))
import fmnist_eval as fe  # noqa: E402
import mirror_check as mc  # noqa: E402

DATA = os.environ.get('SIMDIFF_FMNIST_DIR', fe.DEFAULT_DATA)
HAVE_DATA = os.path.exists(os.path.join(DATA, 'train-images-idx3-ubyte.gz'))


class Built(unittest.TestCase):
    def test_mean_and_its_mirror(self):
        rng = np.random.RandomState(3)
        mean = rng.uniform(-1, 1, (1, 3, 8, 8))
        near = mean + 0.01 * rng.standard_normal((5, 3, 8, 8))
        self.assertEqual(mc.mirrored_share(near, mean), 0.0)
        self.assertEqual(mc.mirrored_share(near[..., ::-1], mean), 1.0)
        # 2 of 5 mirrored: 0.4
        mixed = np.concatenate([near[:3], near[3:, ..., ::-1]])
        self.assertAlmostEqual(mc.mirrored_share(mixed, mean), 0.4)

    def test_per_class_rows(self):
        rng = np.random.RandomState(4)
        data = rng.uniform(-1, 1, (6, 1, 4, 4)).astype(np.float32)
        dl = np.array([0, 0, 0, 1, 1, 1])
        rows = mc.per_class(data, dl, data, dl)
        self.assertEqual([r[:2] for r in rows], [(0, 3), (1, 3)])
        self.assertEqual([r[2] for r in rows], [r[3] for r in rows])


@unittest.skipUnless(HAVE_DATA, 'no Fashion-MNIST in %s' % DATA)
class Shoes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        x, y = fe.load_fmnist('train', DATA)
        cls.x, cls.y = fe.to_input(x), y

    def test_shoes_face_one_way(self):
        rows = mc.per_class(self.x[:3000], self.y[:3000], self.x, self.y)
        for k in (5, 7, 9):
            self.assertLess(rows[k][2], 0.1, rows[k])
        mirrored = mc.per_class(self.x[:3000, ..., ::-1], self.y[:3000], self.x, self.y)
        for k in (5, 7, 9):
            self.assertGreater(mirrored[k][2], 0.9, mirrored[k])

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            s, l = os.path.join(d, 's.npy'), os.path.join(d, 'l.npy')
            np.save(s, np.ascontiguousarray(self.x[:200, ..., ::-1]))
            np.save(l, self.y[:200].astype(np.float32))
            out = subprocess.run([sys.executable, SCRIPT, s, l, '--data-dir', DATA],
                                 capture_output=True, text=True, check=True).stdout
            rows = [line.split() for line in out.splitlines()[1:]]
            self.assertEqual(len(rows), 10)
            self.assertGreater(float(rows[9][2]), 0.9)      # boots, mirrored
            self.assertLess(float(rows[9][3]), 0.1)         # the training boots
            np.save(s, self.x[:200, :, :16])                 # wrong shape
            r = subprocess.run([sys.executable, SCRIPT, s, l, '--data-dir', DATA],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('do not match', r.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
