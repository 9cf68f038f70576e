"""Arrays in and out, with numpy when it is importable and without it.

Inputs may be numpy arrays, objects with the buffer protocol (array.array,
memoryview, bytes for uint8 data) or (nested) sequences of numbers.

Outputs are numpy.ndarray when numpy is importable (and SIMDIFF_NO_NUMPY is
not set in the environment), otherwise a memoryview of the same shape and
item type over a fresh array.array buffer: index it with ``out[i, c, y, x]``,
turn it into nested lists with ``out.tolist()``, or hand it to any consumer
of the buffer protocol.
"""
import array
import ctypes
import numbers
import os
import struct

try:
    if os.environ.get("SIMDIFF_NO_NUMPY", "") not in ("", "0"):
        raise ImportError("SIMDIFF_NO_NUMPY is set")
    import numpy as np
except ImportError:
    np = None

HAVE_NUMPY = np is not None

# item codes: array/struct typecode -> (ctypes type, numpy dtype name, kind)
_CODES = {
    "f": (ctypes.c_float, "float32", "f"),
    "d": (ctypes.c_double, "float64", "f"),
    "i": (ctypes.c_int, "int32", "i"),
    "q": (ctypes.c_int64, "int64", "i"),
    "B": (ctypes.c_uint8, "uint8", "u"),
}
_KIND = {}
for _c in "efd":
    _KIND[_c] = "f"
for _c in "bhilqn":
    _KIND[_c] = "i"
for _c in "BHILQN?":
    _KIND[_c] = "u"


class Input:
    """A converted input: ``ptr`` for ctypes, its ``shape`` and ``size``."""
    __slots__ = ("ptr", "shape", "size", "_keep")

    def __init__(self, ptr, shape, size, keep):
        self.ptr = ptr
        self.shape = tuple(shape)
        self.size = size
        self._keep = keep


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _is_scalar(x):
    return isinstance(x, numbers.Number)


def _flatten(obj, name):
    """(flat list, shape) of a rectangular nested sequence of numbers."""
    if isinstance(obj, (str, bytes, bytearray)):
        raise TypeError("%s: expected numbers, got %s" % (name, type(obj).__name__))
    shape = []
    x = obj
    while not _is_scalar(x):
        if isinstance(x, (str, bytes)):
            raise TypeError("%s: expected numbers, got %s" % (name, type(x).__name__))
        try:
            n = len(x)
        except TypeError:
            raise TypeError("%s: expected a number, a sequence of numbers, a "
                            "buffer or a numpy array; got %s"
                            % (name, type(x).__name__)) from None
        shape.append(n)
        if n == 0:
            break
        x = x[0]
    flat = []
    depth = len(shape)

    def rec(o, d):
        if d == depth:
            if not _is_scalar(o):
                if isinstance(o, (str, bytes)) or not hasattr(o, "__len__"):
                    raise TypeError("%s: expected numbers, got %s"
                                    % (name, type(o).__name__))
                raise ValueError("%s: ragged nested sequence (expected a number "
                                 "at depth %d)" % (name, d))
            flat.append(o)
            return
        if _is_scalar(o) or len(o) != shape[d]:
            raise ValueError("%s: ragged nested sequence (expected length %d at "
                             "depth %d)" % (name, shape[d], d))
        for e in o:
            rec(e, d + 1)

    rec(obj, 0)
    return flat, tuple(shape)


def _format_code(fmt):
    fmt = fmt.lstrip("@=<")
    return fmt if len(fmt) == 1 else None


def to_input(obj, code, name):
    """Convert obj to a C array of `code` items (see _CODES)."""
    ctype, dtname, kind = _CODES[code]
    if np is not None:
        if isinstance(obj, (bytes, bytearray, memoryview)):
            obj = np.asarray(memoryview(obj))  # bytes: uint8, not a string
        try:
            a = np.asarray(obj)
        except (TypeError, ValueError) as e:
            raise type(e)("%s: cannot be read as an array: %s" % (name, e)) from None
        if a.dtype.kind not in "biuf":
            raise TypeError("%s: expected numbers, got an array of dtype %s"
                            % (name, a.dtype))
        if kind in "iu" and a.dtype.kind == "f":
            raise TypeError("%s: expected integers, got an array of dtype %s"
                            % (name, a.dtype))
        shape = a.shape
        if kind in "iu" and a.dtype != np.dtype(dtname) and a.size:
            info = np.iinfo(dtname)
            if a.min() < info.min or a.max() > info.max:
                raise OverflowError("%s: values outside %s" % (name, dtname))
        a = np.ascontiguousarray(a, dtype=dtname)
        return Input(a.ctypes.data_as(ctypes.POINTER(ctype)), shape, a.size, a)
    mv = None
    if not isinstance(obj, (list, tuple)) and not _is_scalar(obj):
        try:
            mv = memoryview(obj)
        except TypeError:
            mv = None
    if mv is not None:
        fc = _format_code(mv.format)
        if (fc is not None and _KIND.get(fc) == kind
                and mv.itemsize == ctypes.sizeof(ctype) and mv.c_contiguous):
            n = _prod(mv.shape)
            try:
                raw = mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv
            except TypeError:  # e.g. ctypes' '<f': not castable, copy it
                raw, mv = mv.tobytes(), None
            if mv is None or mv.readonly:
                carr = (ctype * n).from_buffer_copy(raw)
            else:
                carr = (ctype * n).from_buffer(raw)
            return Input(carr, tuple(memoryview(obj).shape), n, (carr, mv))
        if fc is None or fc not in _KIND:
            raise TypeError("%s: unsupported buffer format %r" % (name, mv.format))
        if kind in "iu" and _KIND[fc] == "f":
            raise TypeError("%s: expected integers, got a buffer of format %r"
                            % (name, mv.format))
        try:
            flat, shape = _flatten(mv.tolist(), name) if mv.ndim else ([mv.tolist()], ())
        except NotImplementedError:  # a format tolist() cannot read ('<d')
            try:
                flat = [v[0] for v in struct.iter_unpack(mv.format, mv.tobytes())]
            except struct.error:
                raise TypeError("%s: unsupported buffer format %r" % (name, mv.format)) from None
            shape = tuple(mv.shape)
    else:
        flat, shape = _flatten(obj, name)
    try:
        arr = array.array(code, flat)
    except (TypeError, OverflowError) as e:
        raise type(e)("%s: %s" % (name, e)) from None
    n = len(arr)
    carr = (ctype * n).from_buffer(arr) if n else None
    return Input(carr, shape, n, (carr, arr))


def new_output(code, shape):
    """(array to return, ctypes pointer to fill) for a fresh zeroed array."""
    ctype, dtname, _ = _CODES[code]
    shape = tuple(int(d) for d in shape)
    n = _prod(shape)
    if np is not None:
        a = np.zeros(shape, dtype=dtname)
        return a, a.ctypes.data_as(ctypes.POINTER(ctype))
    arr = array.array(code, bytes(n * ctypes.sizeof(ctype)))
    ptr = (ctype * n).from_buffer(arr) if n else None
    return _view(arr, code, shape), ptr


def _view(arr, code, shape):
    mv = memoryview(arr)
    if len(shape) == 1 or len(arr) == 0:
        # (memoryview.cast() cannot make a shape with a zero extent)
        return mv
    return mv.cast("B").cast(code, shape)


def from_pointer(ptr, code, shape):
    """A copy of the C array at ptr (numpy array or memoryview)."""
    ctype, dtname, _ = _CODES[code]
    shape = tuple(shape)
    n = _prod(shape)
    nbytes = n * ctypes.sizeof(ctype)
    raw = ctypes.string_at(ptr, nbytes) if n else b""
    if np is not None:
        return np.frombuffer(raw, dtype=dtname).reshape(shape).copy()
    arr = array.array(code)
    arr.frombytes(raw)
    return _view(arr, code, shape)


def as_int_list(x):
    """Python ints of a 1-d output (numpy array or memoryview)."""
    return [int(v) for v in x]
