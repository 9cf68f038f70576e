"""The example runs; the package builds and installs offline with pip."""
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

import simdiff
from support import BINDINGS, REPO, TempDirTest, fixture, read_png

EXAMPLE = os.path.join(REPO, "examples", "python", "sample_grid.py")
BUNDLED = os.path.join(REPO, "models", "fmnist-uvit.safetensors")


def clean_env(keep_preload=False, **extra):
    """The environment for a child; LD_PRELOAD (the ASan runtime in
    sanitizer builds) only where the instrumented library gets loaded."""
    env = dict(os.environ)
    if not keep_preload:
        env.pop("LD_PRELOAD", None)
    env.update(extra)
    return env


class TestExample(TempDirTest):
    def run_example(self, *args):
        env = clean_env(keep_preload=True, PYTHONPATH=BINDINGS)
        return subprocess.run([sys.executable, EXAMPLE] + list(args), env=env,
                              capture_output=True, text=True, timeout=1200)

    def test_grid_from_a_fixture_model(self):
        out = self.path("grid.png")
        r = self.run_example(fixture("model", "uvit_plain.safetensors"),
                             "--schedule", "shifted(8,64)", "--steps", "4",
                             "--per-class", "5", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), out)
        self.assertIn("step 4/4", r.stderr)
        w, h, c, _ = read_png(out)
        # 3 classes x 5 images of 8x8, 2-pixel gaps.
        self.assertEqual((w, h, c), (5 * 8 + 4 * 2, 3 * 8 + 2 * 2, 1))

    def test_errors_are_messages(self):
        r = self.run_example(self.path("missing.safetensors"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing.safetensors", r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        r = self.run_example(fixture("model", "uvit_plain.safetensors"), "--quiet")
        self.assertEqual(r.returncode, 2)
        self.assertIn("schedule", r.stderr)

    @unittest.skipUnless(os.path.exists(BUNDLED), "models/fmnist-uvit.safetensors not there yet")
    def test_bundled_model(self):
        out = self.path("fmnist.png")
        r = self.run_example("--steps", "4", "--per-class", "2", "--out", out, "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        w, h, c, _ = read_png(out)
        with simdiff.Model.load(BUNDLED) as m:
            ch, ih, iw = m.image_shape
        self.assertEqual((w, c), (2 * iw + 2, ch))


def build_backend():
    sys.path.insert(0, os.path.join(BINDINGS, "build_backend"))
    try:
        import simdiff_build
    finally:
        sys.path.pop(0)
    return simdiff_build


class TestWheel(TempDirTest):
    def test_wheel_contents_and_record(self):
        b = build_backend()
        name = b.build_wheel(self.tmp)
        self.assertEqual(name, "simdiff-%s-py3-none-any.whl" % simdiff.__version__)
        with zipfile.ZipFile(self.path(name)) as z:
            names = z.namelist()
            self.assertIn("simdiff/__init__.py", names)
            self.assertIn("simdiff/sampler.py", names)
            self.assertFalse([n for n in names if "__pycache__" in n or n.endswith(".so.0")])
            record = z.read("simdiff-%s.dist-info/RECORD" % simdiff.__version__).decode()
            for line in record.splitlines():
                path, digest, size = line.rsplit(",", 2)
                if not digest:
                    continue
                data = z.read(path)
                want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                self.assertEqual(digest, "sha256=" + want.decode(), path)
                self.assertEqual(int(size), len(data))
            meta = z.read("simdiff-%s.dist-info/METADATA" % simdiff.__version__).decode()
            self.assertIn("Name: simdiff", meta)
            self.assertIn('Requires-Dist: numpy; extra == "numpy"', meta)
        self.assertEqual(b.get_requires_for_build_wheel(), [])

    def test_bundled_library_and_sdist(self):
        b = build_backend()
        name = b.build_wheel(self.tmp, {"bundle-library": simdiff.library_path}) \
            if os.path.isabs(simdiff.library_path) else None
        if name:
            self.assertNotIn("none-any", name)
            with zipfile.ZipFile(self.path(name)) as z:
                self.assertIn("simdiff/libsimdiff.so.0", z.namelist())
        with self.assertRaises(ValueError):
            b.build_wheel(self.tmp, {"bundle-library": "relative/libsimdiff.so.0"})
        sd = b.build_sdist(self.tmp)
        import tarfile
        with tarfile.open(self.path(sd)) as t:
            names = t.getnames()
        base = sd[:-len(".tar.gz")]
        for need in ("PKG-INFO", "pyproject.toml", "simdiff/__init__.py",
                     "build_backend/simdiff_build.py", "tests/run_tap.py"):
            self.assertIn("%s/%s" % (base, need), names)

    def test_toml_fallback_parser_agrees_with_tomllib(self):
        try:
            import tomllib
        except ImportError:
            self.skipTest("no tomllib (Python < 3.11)")
        b = build_backend()
        with open(os.path.join(BINDINGS, "pyproject.toml"), encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(b._parse_toml_subset(text), tomllib.loads(text))


@unittest.skipIf(os.environ.get("SIMDIFF_TEST_PIP") == "0", "SIMDIFF_TEST_PIP=0")
class TestPipInstall(unittest.TestCase):
    """pip install ./bindings/python in a fresh venv, with --no-index: no
    network, nothing but the interpreter and the pip that venv provides."""

    def test_offline_install_in_a_venv(self):
        with tempfile.TemporaryDirectory(prefix="simdiff-venv-") as d:
            venv = os.path.join(d, "venv")
            r = subprocess.run([sys.executable, "-m", "venv", venv], env=clean_env(),
                               capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                self.skipTest("cannot make a venv with pip here: %s" % r.stderr.strip()[-200:])
            py = os.path.join(venv, "bin", "python")
            r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-cache-dir",
                                "--disable-pip-version-check", BINDINGS],
                               env=clean_env(PIP_NO_INDEX="1"), capture_output=True,
                               text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            code = ("import simdiff, sys; "
                    "print(simdiff.__file__.startswith(sys.prefix), simdiff.version())")
            env = clean_env(keep_preload=True, SIMDIFF_LIBRARY=simdiff.library_path)
            env.pop("PYTHONPATH", None)
            r = subprocess.run([py, "-c", code], env=env, cwd=d, capture_output=True,
                               text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split(), ["True", simdiff.version()])
            r = subprocess.run([py, "-m", "pip", "uninstall", "-y", "simdiff"],
                               env=clean_env(), capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
