"""Image and array writers, training datasets (io.h)."""
import ctypes
import numbers
import os

from . import _arrays
from ._config import FloatRange, ImageFolderConfig, Layout
from ._errors import check
from ._handle import Handle
from ._native import LIB
from .model import fspath

__all__ = ["write_png", "write_png_u8", "write_npy", "Dataset"]


def _shaped(data, code, shape, what):
    inp = _arrays.to_input(data, code, what)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        n = 1
        for d in shape:
            if d < 0:
                raise ValueError("%s: negative extent in shape %s" % (what, shape))
            n *= d
        if n != inp.size:
            raise ValueError("%s: %d values do not fill shape %s" % (what, inp.size, shape))
        return inp, shape
    return inp, inp.shape


def _c_int(v, what):
    if not -2 ** 31 <= v < 2 ** 31:
        raise OverflowError("%s: %d is out of range" % (what, v))
    return int(v)


def write_png(path, images, grid_cols=0, *, shape=None):
    """Write images (n x C x H x W, or one C x H x W image; floats in
    [-1, 1], C = 1 or 3) as one PNG grid, atomically. grid_cols: tiles per
    row (0: about sqrt(n)). shape: the shape of a flat images buffer."""
    inp, shp = _shaped(images, "f", shape, "images")
    if len(shp) == 3:
        shp = (1,) + tuple(shp)
    if len(shp) != 4:
        raise ValueError("images: shape %s; expected (n, C, H, W) or (C, H, W) "
                         "(pass shape= for a flat buffer)" % (shp,))
    n, c, h, w = (_c_int(d, "images") for d in shp)
    check(LIB.simdiff_write_png(fspath(path), n, c, h, w, inp.ptr,
                                _c_int(grid_cols, "grid_cols")))


def write_png_u8(path, pixels, *, shape=None):
    """Write one 8-bit image, H x W x C bytes (C = 1, 2, 3, 4) or H x W."""
    inp, shp = _shaped(pixels, "B", shape, "pixels")
    if len(shp) == 2:
        shp = tuple(shp) + (1,)
    if len(shp) != 3:
        raise ValueError("pixels: shape %s; expected (H, W, C) or (H, W)" % (shp,))
    h, w, c = (_c_int(d, "pixels") for d in shp)
    check(LIB.simdiff_write_png_u8(fspath(path), h, w, c, inp.ptr))


def _npy_dtype(data, dtype):
    if dtype is not None:
        d = str(getattr(dtype, "name", dtype)).lower()
        if d in ("float32", "f4", "<f4", "f"):
            return "f"
        if d in ("uint8", "u1", "|u1", "b"):
            return "B"
        raise ValueError("write_npy: dtype %r; expected 'float32' or 'uint8'" % (dtype,))
    dt = getattr(data, "dtype", None)
    if dt is not None:
        return "B" if str(dt) == "uint8" else "f"
    if isinstance(data, (bytes, bytearray)):
        return "B"
    try:
        fmt = memoryview(data).format
    except TypeError:
        return "f"
    return "B" if fmt.lstrip("@=<") == "B" else "f"


def write_npy(path, data, *, dtype=None, shape=None):
    """Write a C-order array as .npy (readable by numpy.load), atomically.
    dtype: 'float32' or 'uint8' (default: uint8 for uint8 / bytes input,
    float32 otherwise)."""
    code = _npy_dtype(data, dtype)
    inp, shp = _shaped(data, code, shape, "data")
    if len(shp) > 32:
        raise ValueError("write_npy: at most 32 dimensions")
    dims = (ctypes.c_int64 * max(1, len(shp)))(*shp)
    fn = LIB.simdiff_write_npy_u8 if code == "B" else LIB.simdiff_write_npy_f32
    check(fn(fspath(path), len(shp), dims, inp.ptr))


class Dataset(Handle):
    """Images (all C x H x W) with optional class labels, held in memory.

    ``Dataset.open(images, labels=None)`` picks the reader from the path
    (a folder: :meth:`open_folder`; .npy / .npy.gz: NumPy; anything else:
    IDX); or call :meth:`open_folder` / :meth:`open_idx` / :meth:`open_npy`.
    ``len(ds)`` is the image count."""
    _kind = "Dataset"
    _destroy_name = "simdiff_dataset_destroy"

    def __init__(self, *args, **kwargs):
        raise TypeError("use Dataset.open(images, labels=None), Dataset.open_idx() "
                        "or Dataset.open_npy()")

    @classmethod
    def _wrap(cls, ptr):
        self = cls.__new__(cls)
        self._adopt(ptr)
        return self

    @classmethod
    def open(cls, images, labels=None, **kwargs):
        """Open by path: a folder with open_folder() (kwargs: its config),
        *.npy or *.npy.gz with open_npy(), else IDX."""
        if os.path.isdir(fspath(images)):
            if labels is not None:
                raise TypeError("Dataset.open: a folder's labels are its sub-folders")
            return cls.open_folder(images, **kwargs)
        name = fspath(images).lower()
        if name.endswith(b".npy") or name.endswith(b".npy.gz"):
            return cls.open_npy(images, labels, **kwargs)
        if kwargs:
            raise TypeError("Dataset.open: %s only apply to .npy files"
                            % ", ".join(sorted(kwargs)))
        return cls.open_idx(images, labels)

    @classmethod
    def open_idx(cls, images, labels=None):
        """IDX files (MNIST / Fashion-MNIST), raw or gzip-compressed."""
        out = ctypes.c_void_p()
        check(LIB.simdiff_dataset_open_idx(
            ctypes.byref(out), fspath(images),
            fspath(labels) if labels is not None else None))
        return cls._wrap(out.value)

    @classmethod
    def open_npy(cls, images, labels=None, layout="auto", float_range="01"):
        """.npy files (raw or gzip). layout: 'auto', 'nhwc' or 'nchw';
        float_range for float images: '01' ([0, 1]) or 'pm1' ([-1, 1])."""
        out = ctypes.c_void_p()
        check(LIB.simdiff_dataset_open_npy(
            ctypes.byref(out), fspath(images),
            fspath(labels) if labels is not None else None,
            int(Layout.coerce(layout, "layout")),
            int(FloatRange.coerce(float_range, "float_range"))))
        return cls._wrap(out.value)

    @classmethod
    def open_folder(cls, folder, config=None, **overrides):
        """A folder of PNG / JPEG files: sub-folder names are the classes
        (ids in sorted order, see class_names), files directly in the folder
        are unlabelled (label -1). Each image is centre-cropped, area-resized
        to size x size and composited on the background. config: an
        ImageFolderConfig (default: the library's); overrides: its fields,
        e.g. ``size=128, channels="rgb", on_bad_image="skip"``."""
        cfg = (config.copy() if config is not None else ImageFolderConfig())
        cfg.update(**overrides)
        out = ctypes.c_void_p()
        check(LIB.simdiff_dataset_open_folder(ctypes.byref(out), fspath(folder),
                                              cfg._struct_ref()))
        return cls._wrap(out.value)

    @property
    def class_names(self):
        """Names of the classes by id (a folder's sub-folders), or [] when
        the dataset has none (IDX / .npy)."""
        with self._use() as h:
            names = []
            while True:
                p = LIB.simdiff_dataset_class_name(h, len(names))
                if p is None:
                    return names
                names.append(os.fsdecode(p))

    def class_id(self, name):
        """The id of the class called name, or -1."""
        if isinstance(name, str):
            name = os.fsencode(name)
        with self._use() as h:
            return int(LIB.simdiff_dataset_class_id(h, name))

    @property
    def skipped(self):
        """Messages (each naming its file) of the files open_folder left out
        with on_bad_image="skip", in reading order."""
        with self._use() as h:
            n = int(LIB.simdiff_dataset_skipped_count(h))
            return [LIB.simdiff_dataset_skipped_message(h, i).decode("utf-8", "replace")
                    for i in range(n)]

    def __len__(self):
        return int(LIB.simdiff_dataset_count(self._handle()))

    count = property(__len__, doc="Number of images.")
    channels = property(lambda self: int(LIB.simdiff_dataset_channels(self._handle())))
    height = property(lambda self: int(LIB.simdiff_dataset_height(self._handle())))
    width = property(lambda self: int(LIB.simdiff_dataset_width(self._handle())))

    @property
    def num_classes(self):
        """Largest label + 1, or 0 without labels."""
        return int(LIB.simdiff_dataset_num_classes(self._handle()))

    @property
    def image_shape(self):
        """(C, H, W)."""
        return (self.channels, self.height, self.width)

    def get_batch(self, indices, pad_to=0, flip=None):
        """(images n x C x P x P floats in [-1, 1], labels n ints (-1 when the
        dataset has none)) for the given example numbers. pad_to: 0 or
        P >= max(H, W) (centred on a black canvas); flip: None or n
        flags (nonzero: mirror left-right after padding)."""
        idx = _arrays.to_input(indices, "q", "indices")
        n = idx.size
        if len(idx.shape) > 1 or n >= 2 ** 31:
            raise ValueError("indices: expected a 1-d sequence")
        fl = None
        if flip is not None:
            if isinstance(flip, (list, tuple)):
                flip = [1 if f else 0 for f in flip]
            fl = _arrays.to_input(flip, "B", "flip")
            if fl.size != n:
                raise ValueError("flip: %d flags for %d indices" % (fl.size, n))
        if isinstance(pad_to, bool) or not isinstance(pad_to, numbers.Integral):
            raise TypeError("pad_to must be an int")
        p = int(pad_to)
        c = self.channels
        hh, ww = (p, p) if p > 0 else (self.height, self.width)
        out, optr = _arrays.new_output("f", (n, c, hh, ww))
        labels, lptr = _arrays.new_output("i", (n,))
        with self._use() as h:
            check(LIB.simdiff_dataset_get_batch(h, n, idx.ptr, _c_int(p, "pad_to"),
                                                fl.ptr if fl else None, optr, lptr))
        return out, labels

    def shuffle(self, seed, epoch=0):
        """The permutation of 0..len-1 for (seed, epoch) (int64)."""
        perm, ptr = _arrays.new_output("q", (len(self),))
        with self._use() as h:
            check(LIB.simdiff_dataset_shuffle(h, _u64(seed, "seed"), _u64(epoch, "epoch"),
                                              ptr))
        return perm

    @staticmethod
    def flip_mask(seed, step, indices):
        """Horizontal-flip decisions (uint8 0/1) for a batch, a pure function
        of (seed, step, indices[i])."""
        idx = _arrays.to_input(indices, "q", "indices")
        out, ptr = _arrays.new_output("B", (idx.size,))
        check(LIB.simdiff_dataset_flip_mask(_u64(seed, "seed"), _u64(step, "step"),
                                            idx.size, idx.ptr, ptr))
        return out

    def batches(self, batch_size, *, seed=0, start_step=0, steps=None, pad_to=0,
                flip=False):
        """Yield (images, labels) batches the way simdiff-train draws them:
        batch k holds positions k·B .. k·B+B−1 of the concatenated epoch
        permutations shuffle(seed, 0), shuffle(seed, 1), ...; with flip,
        flip_mask(seed, k, indices). From step start_step, for steps batches
        (None: forever)."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        N = len(self)
        if N == 0:
            return
        perm, perm_epoch = None, -1
        k = start_step
        while steps is None or k < start_step + steps:
            idx = []
            for i in range(batch_size):
                pos = k * batch_size + i
                e = pos // N
                if e != perm_epoch:
                    perm, perm_epoch = _arrays.as_int_list(self.shuffle(seed, e)), e
                idx.append(perm[pos % N])
            fl = self.flip_mask(seed, k, idx) if flip else None
            yield self.get_batch(idx, pad_to=pad_to, flip=fl)
            k += 1

    def _repr_detail(self):
        return " %d x %dx%dx%d, %d classes" % ((len(self),) + self.image_shape
                                             + (self.num_classes,))


def _u64(v, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v < 2 ** 64:
        raise OverflowError("%s must be an int in 0..2**64-1, got %r" % (what, v))
    return int(v)
