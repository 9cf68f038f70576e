"""A PEP 517 / PEP 660 build backend for the simdiff package, standard
library only, so that ``pip install ./bindings/python`` works offline with
nothing but the interpreter and its pip (no setuptools, no wheel).

It builds:
  - a wheel: the simdiff/ package plus .dist-info (py3-none-any); with the
    config setting ``bundle-library=/path/to/libsimdiff.so.0`` the library
    is copied into the package (then the wheel is tagged for this platform):
        pip install ./bindings/python \\
            --config-settings bundle-library=$PWD/build/lib/libsimdiff.so.0
  - an editable wheel (pip install -e): a .pth file pointing at this tree;
  - an sdist: the tree as a .tar.gz with PKG-INFO.

Metadata comes from the [project] table of pyproject.toml.
"""
import base64
import hashlib
import io
import os
import re
import sys
import sysconfig
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "simdiff"
SDIST_ITEMS = ("pyproject.toml", "build_backend", "simdiff", "tests", "meson.build")
# 1980-01-01, the earliest zip time: reproducible archives.
_EPOCH = (1980, 1, 1, 0, 0, 0)


# ---- pyproject.toml ------------------------------------------------------------

def _parse_toml_subset(text):
    """Tables, 'key = "string"' and 'key = ["strings", ...]' (an array may
    span lines): all that pyproject.toml here uses. Only for Python < 3.11,
    which has no tomllib."""
    data, table = {}, None
    string = r'"((?:[^"\\]|\\.)*)"'
    lines = iter(text.splitlines())
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^\[([A-Za-z0-9_.-]+)\]", line)
        if m:
            table = data
            for part in m.group(1).split("."):
                table = table.setdefault(part, {})
            continue
        key, _, value = line.partition("=")
        key, value = key.strip().strip('"'), value.strip()
        target = table if table is not None else data
        if value.startswith("["):
            while not re.sub(string, "", value).split("#", 1)[0].rstrip().endswith("]"):
                value += " " + next(lines).strip()
            target[key] = re.findall(string, value)
        else:
            m = re.match(string, value)
            target[key] = m.group(1) if m else value.split("#", 1)[0].strip()
    return data


def _project():
    path = os.path.join(ROOT, "pyproject.toml")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        import tomllib
        data = tomllib.loads(raw.decode("utf-8"))
    except ImportError:
        data = _parse_toml_subset(raw.decode("utf-8"))
    return data["project"]


def _dist_name(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata_text(proj):
    lines = ["Metadata-Version: 2.1",
             "Name: %s" % proj["name"],
             "Version: %s" % proj["version"]]
    if proj.get("description"):
        lines.append("Summary: %s" % proj["description"])
    lic = proj.get("license")
    if isinstance(lic, dict):
        lic = lic.get("text")
    if lic:
        lines.append("License: %s" % lic)
    if proj.get("requires-python"):
        lines.append("Requires-Python: %s" % proj["requires-python"])
    for c in proj.get("classifiers", []):
        lines.append("Classifier: %s" % c)
    for extra, reqs in sorted(proj.get("optional-dependencies", {}).items()):
        lines.append("Provides-Extra: %s" % extra)
        for r in reqs:
            lines.append('Requires-Dist: %s; extra == "%s"' % (r, extra))
    lines.append("Description-Content-Type: text/markdown")
    lines.append("")
    lines.append("Python bindings (ctypes, standard library only) to libsimdiff, "
                 "an embeddable C library that trains and samples pixel-space "
                 "diffusion models on the CPU. The package needs libsimdiff.so.0 "
                 "at run time: see docs/python.md in the libsimdiff sources.")
    return "\n".join(lines) + "\n"


# ---- wheels ----------------------------------------------------------------------

def _package_files():
    """(archive name, file path) of the simdiff package, sorted."""
    out = []
    pkg = os.path.join(ROOT, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".pyc", ".pyo")) or fn.startswith("libsimdiff"):
                continue
            full = os.path.join(dirpath, fn)
            out.append((os.path.relpath(full, ROOT).replace(os.sep, "/"), full))
    return out


def _platform_tag():
    return re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())


class _Wheel:
    def __init__(self, path):
        self.zf = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.records = []

    def add(self, arcname, data, executable=False):
        zi = zipfile.ZipInfo(arcname, date_time=_EPOCH)
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = (0o755 if executable else 0o644) << 16
        self.zf.writestr(zi, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        self.records.append("%s,sha256=%s,%d" % (arcname, digest.decode("ascii"), len(data)))

    def close(self, record_name):
        self.records.append("%s,," % record_name)
        zi = zipfile.ZipInfo(record_name, date_time=_EPOCH)
        zi.external_attr = 0o644 << 16
        self.zf.writestr(zi, "\n".join(self.records) + "\n")
        self.zf.close()


def _build(wheel_directory, config_settings, editable):
    proj = _project()
    name, version = _dist_name(proj["name"]), proj["version"]
    lib = (config_settings or {}).get("bundle-library")
    if lib and editable:
        raise ValueError("bundle-library does not apply to editable installs: copy "
                         "libsimdiff.so.0 into %s instead" % os.path.join(ROOT, PACKAGE))
    tag = "py3-none-%s" % _platform_tag() if lib else "py3-none-any"
    filename = "%s-%s-%s.whl" % (name, version, tag)
    distinfo = "%s-%s.dist-info" % (name, version)
    os.makedirs(wheel_directory, exist_ok=True)
    w = _Wheel(os.path.join(wheel_directory, filename))
    try:
        if editable:
            w.add("%s.pth" % name, (ROOT + "\n").encode("utf-8"))
        else:
            for arc, full in _package_files():
                with open(full, "rb") as f:
                    w.add(arc, f.read())
            if lib:
                if not os.path.isabs(lib):
                    raise ValueError("bundle-library=%s: give an absolute path (pip "
                                     "runs the build in %s, not in your directory)"
                                     % (lib, ROOT))
                if not os.path.isfile(lib):
                    raise FileNotFoundError("bundle-library: %s is not a file" % lib)
                with open(lib, "rb") as f:  # follows symlinks: the real library
                    w.add("%s/libsimdiff.so.0" % PACKAGE, f.read(), executable=True)
        w.add(distinfo + "/METADATA", _metadata_text(proj).encode("utf-8"))
        w.add(distinfo + "/WHEEL", (
            "Wheel-Version: 1.0\nGenerator: simdiff_build\nRoot-Is-Purelib: %s\n"
            "Tag: %s\n" % ("false" if lib else "true", tag)).encode("ascii"))
        w.add(distinfo + "/top_level.txt", (PACKAGE + "\n").encode("ascii"))
        w.close(distinfo + "/RECORD")
    except BaseException:
        w.zf.close()
        os.unlink(os.path.join(wheel_directory, filename))
        raise
    return filename


# ---- PEP 517 / 660 hooks ------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _build(wheel_directory, config_settings, editable=False)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _build(wheel_directory, config_settings, editable=True)


def build_sdist(sdist_directory, config_settings=None):
    proj = _project()
    base = "%s-%s" % (_dist_name(proj["name"]), proj["version"])
    filename = base + ".tar.gz"
    os.makedirs(sdist_directory, exist_ok=True)
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))

    def clean(ti):
        if "__pycache__" in ti.name or ti.name.endswith(".pyc") or \
                os.path.basename(ti.name).startswith("libsimdiff"):
            return None
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        ti.mtime = mtime
        return ti

    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tf:
        for item in SDIST_ITEMS:
            p = os.path.join(ROOT, item)
            if os.path.exists(p):
                tf.add(p, arcname="%s/%s" % (base, item), filter=clean)
        data = _metadata_text(proj).encode("utf-8")
        ti = tarfile.TarInfo("%s/PKG-INFO" % base)
        ti.size, ti.mtime, ti.mode = len(data), mtime, 0o644
        tf.addfile(ti, io.BytesIO(data))
    return filename


if __name__ == "__main__":  # python3 build_backend/simdiff_build.py [OUTDIR]
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "dist")
    print(os.path.join(out, build_wheel(out)))
    print(os.path.join(out, build_sdist(out)))
