"""Schedules and the v / eps / x helpers against closed forms in Python."""
import copy
import math
import pickle
import unittest

import simdiff
from support import f32, flat, shape


def cosine_logsnr(t, lmin=-15.0, lmax=15.0):
    tmin = math.atan(math.exp(-0.5 * lmax))
    tmax = math.atan(math.exp(-0.5 * lmin))
    return -2.0 * math.log(math.tan(tmin + t * (tmax - tmin)))


def shifted_logsnr(t, image_d, base_d):
    return cosine_logsnr(t) + 2.0 * math.log(base_d / image_d)


def interpolated_logsnr(t, image_d, d0, d1):
    return (1 - t) * shifted_logsnr(t, image_d, d0) + t * shifted_logsnr(t, image_d, d1)


def sigmoid(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


TS = [i / 20 for i in range(21)]


class TestValues(unittest.TestCase):
    def assertClose(self, got, want, tol=1e-9):
        self.assertLessEqual(abs(got - want), tol * max(1.0, abs(want)), (got, want))

    def test_cosine(self):
        with simdiff.Schedule.cosine(-12.5, 14.25) as s:
            for t in TS:
                self.assertClose(s.logsnr(t), cosine_logsnr(t, -12.5, 14.25))
            self.assertEqual(s.kind, simdiff.ScheduleKind.COSINE)
            self.assertEqual(s.cosine_range, (-12.5, 14.25))
            self.assertEqual(s.resolutions, (0, 0, 0))
            self.assertEqual(s.shifts, (0.0, 0.0))

    def test_shifted(self):
        with simdiff.Schedule.shifted(128, 64) as s:
            for t in TS:
                self.assertClose(s.logsnr(t), shifted_logsnr(t, 128, 64))
            self.assertEqual(s.kind, simdiff.ScheduleKind.SHIFTED)
            self.assertEqual(s.resolutions, (128, 64, 64))
            self.assertClose(s.shifts[0], 2 * math.log(0.5))

    def test_interpolated_paper_preset(self):
        with simdiff.Schedule.interpolated(512, 256, 32) as s:
            for t in TS:
                self.assertClose(s.logsnr(t), interpolated_logsnr(t, 512, 256, 32))
            self.assertEqual(s.resolutions, (512, 256, 32))
            self.assertIn("interpolated", s.describe())

    def test_alpha_sigma(self):
        with simdiff.Schedule.shifted(256) as s:
            a, sg = s.alpha_sigma(TS)
            for t, al, si in zip(TS, flat(a), flat(sg)):
                lam = s.logsnr(t)
                self.assertClose(al, math.sqrt(sigmoid(lam)), 1e-12)
                self.assertClose(si, math.sqrt(sigmoid(-lam)), 1e-12)
                self.assertClose(al * al + si * si, 1.0, 1e-12)
            self.assertEqual(s.alpha_sigma(0.25), (flat(s.alpha_sigma([0.25])[0])[0],
                                                   flat(s.alpha_sigma([0.25])[1])[0]))

    def test_inverse(self):
        with simdiff.Schedule.interpolated(512, 256, 32) as s:
            back = flat(s.t_from_logsnr(s.logsnr(TS)))
            for t, b in zip(TS, back):
                self.assertLessEqual(abs(t - b), 1e-9)
            self.assertEqual(s.t_from_logsnr(float("inf")), 0.0)
            self.assertEqual(s.t_from_logsnr(float("-inf")), 1.0)

    def test_alpha_sigma_from_logsnr(self):
        a, s = simdiff.alpha_sigma_from_logsnr([float("inf"), 0.0, float("-inf")])
        self.assertEqual(flat(a), [1.0, math.sqrt(0.5), 0.0])
        self.assertEqual(flat(s), [0.0, math.sqrt(0.5), 1.0])
        self.assertEqual(simdiff.alpha_sigma_from_logsnr(0.0),
                         (math.sqrt(0.5), math.sqrt(0.5)))


class TestShapesAndTypes(unittest.TestCase):
    def test_number_in_float_out(self):
        with simdiff.Schedule.shifted(64) as s:
            self.assertIsInstance(s.logsnr(0.5), float)
            self.assertIsInstance(s.logsnr(1), float)

    def test_arrays_keep_their_shape(self):
        with simdiff.Schedule.shifted(64) as s:
            out = s.logsnr([[0.0, 0.5], [1.0, 0.25]])
            self.assertEqual(shape(out), (2, 2))
            self.assertEqual(flat(out), [s.logsnr(t) for t in (0.0, 0.5, 1.0, 0.25)])
            self.assertEqual(shape(s.logsnr([])), (0,))
            self.assertEqual(shape(s.logsnr((0.5,))), (1,))

    def test_bad_t(self):
        with simdiff.Schedule.shifted(64) as s:
            for bad in (1.5, -0.1, float("nan")):
                with self.subTest(t=bad), self.assertRaises(simdiff.InvalidArgumentError):
                    s.logsnr(bad)
            with self.assertRaises(TypeError):
                s.logsnr("0.5")
            with self.assertRaises(TypeError):
                s.logsnr([0.5, "x"])
            with self.assertRaises(ValueError):
                s.logsnr([[0.5], [0.1, 0.2]])


class TestText(unittest.TestCase):
    def test_round_trip(self):
        for text in ("cosine(-15,15)", "cosine(-12.345678901234567,0.1)",
                     "shifted(128,64)", "interpolated(512,256,32)"):
            with self.subTest(text=text):
                with simdiff.Schedule(text) as s, simdiff.Schedule.from_string(text) as t:
                    self.assertEqual(str(s), text)
                    self.assertEqual(s.to_string(), text)
                    self.assertEqual(s, t)
                    self.assertEqual(hash(s), hash(t))
                    self.assertEqual(repr(s), "Schedule(%r)" % text)
                    self.assertEqual(eval(repr(s), {"Schedule": simdiff.Schedule}), s)

    def test_copy_and_pickle(self):
        s = simdiff.Schedule.interpolated(512, 256, 32)
        for c in (s.copy(), copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
            self.assertEqual(c, s)
            self.assertIsNot(c._ptr, s._ptr)
            c.close()
        s.close()
        self.assertEqual(repr(s), "<simdiff.Schedule (closed)>")

    def test_strict_parser(self):
        for bad in ("Shifted(128,64)", "shifted(128, 64)", "shifted(0128,64)",
                    "cosine(-inf,15)", "shifted(128,64)x"):
            with self.subTest(text=bad), self.assertRaises(simdiff.FormatError):
                simdiff.Schedule(bad)
        with self.assertRaises(simdiff.InvalidArgumentError):
            simdiff.Schedule("cosine(15,-15)")
        with self.assertRaises(TypeError):
            simdiff.Schedule(64)


class TestHelpers(unittest.TestCase):
    """The v / eps / x conversions, element by element in Python (double
    arithmetic, one rounding to float32, as the header promises)."""
    z = [0.5, -0.25, 1.0, 0.125, -1.5, 0.75]
    v = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6]
    alpha = [0.8, 0.6]
    sigma = [0.6, 0.8]

    def per(self, i):
        return i // 3

    def test_v_to_x_eps(self):
        x, e = simdiff.v_to_x_eps(self.z, self.v, self.alpha, self.sigma)
        for i in range(6):
            a, s = self.alpha[self.per(i)], self.sigma[self.per(i)]
            zi, vi = f32(self.z[i]), f32(self.v[i])
            self.assertEqual(flat(x)[i], f32(a * zi - s * vi))
            self.assertEqual(flat(e)[i], f32(s * zi + a * vi))

    def test_the_rest(self):
        x = simdiff.eps_to_x(self.z, self.v, self.alpha, self.sigma)
        e = simdiff.x_to_eps(self.z, self.v, self.alpha, self.sigma)
        vv = simdiff.x_eps_to_v(self.z, self.v, self.alpha, self.sigma)
        zz = simdiff.x_eps_to_z(self.z, self.v, self.alpha, self.sigma)
        for i in range(6):
            a, s = self.alpha[self.per(i)], self.sigma[self.per(i)]
            p, q = f32(self.z[i]), f32(self.v[i])
            self.assertEqual(flat(x)[i], f32((p - s * q) / a))
            self.assertEqual(flat(e)[i], f32((p - a * q) / s))
            self.assertEqual(flat(vv)[i], f32(a * q - s * p))
            self.assertEqual(flat(zz)[i], f32(a * p + s * q))

    def test_shape_is_kept_and_sizes_checked(self):
        z2 = [self.z[:3], self.z[3:]]
        out = simdiff.x_eps_to_z(z2, z2, self.alpha, self.sigma)
        self.assertEqual(shape(out), (2, 3))
        with self.assertRaises(ValueError):
            simdiff.x_eps_to_z(self.z, self.v[:5], self.alpha, self.sigma)
        with self.assertRaises(ValueError):
            simdiff.x_eps_to_z(self.z[:5], self.v[:5], self.alpha, self.sigma)
        with self.assertRaises(simdiff.InvalidArgumentError):
            simdiff.eps_to_x(self.z, self.v, [0.0, 1.0], self.sigma)


if __name__ == "__main__":
    unittest.main()
