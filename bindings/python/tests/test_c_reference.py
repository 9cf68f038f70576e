"""Round trips against C: the same calls made by a C program compiled from
the headers (tests/c_reference.c, built by meson) and through the bindings
must give the same bits, and the ctypes structs the C offsets."""
import ctypes
import os
import struct
import subprocess
import unittest

import simdiff
from simdiff import _native
from support import FIXTURES, TINY_UVIT, fixture, flat, shape

EXE = os.environ.get("SIMDIFF_C_REFERENCE", "")


def _parse(text):
    out = {}
    for line in text.splitlines():
        parts = line.split(" ")
        name, kind, count = parts[0], parts[1], int(parts[2])
        vals = parts[3:]
        if kind == "f32":
            v = [struct.unpack("<f", struct.pack("<I", int(h, 16)))[0] for h in vals]
        elif kind == "f64":
            v = [float.fromhex(h) for h in vals]
        elif kind in ("i64", "size", "offset"):
            v = [int(x) for x in vals]
        else:
            v = [" ".join(vals)]
        assert len(v) == count, line
        out[name] = v
    return out


def _run(*args):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    r = subprocess.run([EXE] + list(args), capture_output=True, text=True, env=env,
                       timeout=600)
    if r.returncode:
        raise AssertionError("%s failed (%d): %s" % (EXE, r.returncode, r.stderr))
    return _parse(r.stdout)


def f32_bits(values):
    return [struct.pack("<f", v) for v in values]


@unittest.skipUnless(EXE and os.path.exists(EXE),
                     "SIMDIFF_C_REFERENCE (built by meson: py-c-reference) is not set")
class TestLayoutFromC(unittest.TestCase):
    def test_offsets_and_sizes(self):
        got = _run("layout")
        for cname, cls in _native.STRUCTS.items():
            with self.subTest(struct=cname):
                self.assertEqual(got[cname][0], ctypes.sizeof(cls))
                for fname, _ in cls._fields_:
                    off, size = got["%s.%s" % (cname, fname)]
                    desc = getattr(cls, fname)
                    self.assertEqual((desc.offset, desc.size), (off, size),
                                     "%s.%s" % (cname, fname))
                # Every C field is mirrored (none missing at the end).
                c_fields = [k.split(".", 1)[1] for k in got if k.startswith(cname + ".")]
                self.assertEqual(c_fields, [f for f, _ in cls._fields_])


@unittest.skipUnless(EXE and os.path.exists(EXE),
                     "SIMDIFF_C_REFERENCE (built by meson: py-c-reference) is not set")
class TestComputeAgainstC(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ref = _run("compute", FIXTURES)
        simdiff.set_num_threads(2)

    @classmethod
    def tearDownClass(cls):
        simdiff.set_num_threads(0)

    def test_schedules(self):
        t = self.ref["schedule.t"]
        for k in range(3):
            with self.subTest(schedule=k), simdiff.Schedule(self.ref["schedule%d.text" % k][0]) as s:
                ls = s.logsnr(t)
                self.assertEqual(flat(ls), self.ref["schedule%d.logsnr" % k])
                a, sg = s.alpha_sigma(t)
                self.assertEqual(flat(a), self.ref["schedule%d.alpha" % k])
                self.assertEqual(flat(sg), self.ref["schedule%d.sigma" % k])
                self.assertEqual(flat(s.t_from_logsnr(ls)), self.ref["schedule%d.t_back" % k])
                # Number by number too.
                self.assertEqual([s.logsnr(x) for x in t], self.ref["schedule%d.logsnr" % k])

    def test_forward(self):
        with simdiff.Model.load(fixture("model", "uvit_plain.safetensors")) as m:
            out = m.forward(self.ref["forward.z"], self.ref["forward.logsnr"], labels=[0, 2])
            self.assertEqual(shape(out), (2, 1, 8, 8))
            self.assertEqual(f32_bits(flat(out)), f32_bits(self.ref["forward.out"]))

    def test_sampler(self):
        with simdiff.Model.load(fixture("model", "uvit_plain.safetensors")) as m:
            with simdiff.Sampler(m, method="ddim", steps=5, eta=0.5, guidance=2.5,
                                 schedule="shifted(8,64)") as s:
                img = s(labels=[0, 2, -1], seed=1234)
                self.assertEqual(f32_bits(flat(img)), f32_bits(self.ref["sample_ddim.out"]))
                # None means "no label", the same as -1.
                img2 = s(labels=[0, 2, None], seed=1234)
                self.assertEqual(f32_bits(flat(img2)), f32_bits(flat(img)))
            with simdiff.Schedule.shifted(8, 64) as sched, \
                    simdiff.Sampler(m, steps=3, spacing="uniform_logsnr", schedule=sched) as s:
                img = s(n=2, seed=9)
                self.assertEqual(f32_bits(flat(img)), f32_bits(self.ref["sample_dpm.out"]))

    def test_training(self):
        with simdiff.Model.create(seed=5, **TINY_UVIT) as m:
            self.assertEqual(m.num_params, self.ref["train.num_params"][0])
            with simdiff.Trainer(m, "shifted(8,64)", seed=11,
                                 optimizer=dict(lr=1e-3, warmup_steps=2)) as t:
                x = self.ref["train.x"]
                losses = [t.step(x, labels=[0, 1, 2, 0]) for _ in range(3)]
                self.assertEqual(losses, self.ref["train.losses"])
                st = t.stats
                self.assertEqual([st.last_loss, st.last_grad_norm, st.lr],
                                 self.ref["train.stats"])
                self.assertEqual((st.step, st.skipped), (3, 0))

    def test_dataset(self):
        with simdiff.Dataset.open(fixture("io", "npy", "u8_nhwc3.npy")) as ds:
            self.assertEqual([int(v) for v in ds.shuffle(5, 2)], self.ref["dataset.perm"])
            idx = [2, 0, 1, 2]
            flip = simdiff.Dataset.flip_mask(7, 3, idx)
            self.assertEqual([int(v) for v in flip], self.ref["dataset.flip"])
            x, labels = ds.get_batch(idx, pad_to=6, flip=flip)
            self.assertEqual(shape(x), (4, 3, 6, 6))
            self.assertEqual(f32_bits(flat(x)), f32_bits(self.ref["dataset.batch"]))
            self.assertEqual([int(v) for v in labels], [-1] * 4)


if __name__ == "__main__":
    unittest.main()
