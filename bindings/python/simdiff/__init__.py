"""libsimdiff from Python: train and sample pixel-space diffusion models
("simple diffusion") on the CPU.

Pure ctypes over libsimdiff.so.0 and the standard library; numpy is used
when importable (arrays in and out as numpy.ndarray), never required
(without it array results are memoryviews: ``.tolist()``, ``[i, c, y, x]``).

    import simdiff
    with simdiff.Model.load("models/fmnist-uvit.safetensors") as model:
        sampler = simdiff.Sampler(model, steps=32, guidance=2.0)
        images = sampler(labels=range(10), seed=0)
        simdiff.write_png("grid.png", images)

The library is found through SIMDIFF_LIBRARY, next to this package, or the
system loader path (see docs/python.md). Failures raise simdiff.Error
subclasses carrying the status and the library's message.
"""
from . import _arrays
from ._native import LIBRARY_PATH as library_path, LibraryNotFoundError, LIB
from ._errors import (Status, Error, InvalidArgumentError, OutOfMemoryError,
                      IOFailure, FormatError, UnsupportedError, CancelledError,
                      BackendError, MisuseError, NumericError, InternalError,
                      status_str)
from ._arrays import HAVE_NUMPY
from ._config import (Arch, Stem, Prediction, LrDecay, Loss, SamplerMethod,
                      Spacing, ScheduleKind, Layout, FloatRange, Precision, ModelConfig,
                      OptimizerConfig, TrainerConfig, SamplerConfig, ImageChannels,
                      BadImage, ImageFolderConfig, DistillConfig, DistillWeighting)
from ._handle import live_handles
from .schedule import (Schedule, alpha_sigma_from_logsnr, v_to_x_eps, eps_to_x,
                       x_to_eps, x_eps_to_v, x_eps_to_z)
from .model import Model, build_vocab
from .train import Optimizer, Trainer, TrainerStats
from .distill import Distiller, DistillStats
from .sampler import Sampler
from .io import write_png, write_png_u8, write_npy, Dataset
from ._errors import check as _check

__version__ = "0.1.0"

__all__ = [
    "__version__", "version", "version_number", "runtime_info",
    "set_adaptive_threads", "get_adaptive_threads", "to_rgb8",
    "set_num_threads", "get_num_threads", "library_path", "HAVE_NUMPY",
    "live_handles",
    "Status", "status_str", "Error", "InvalidArgumentError", "OutOfMemoryError",
    "IOFailure", "FormatError", "UnsupportedError", "CancelledError",
    "BackendError", "MisuseError", "NumericError", "InternalError",
    "LibraryNotFoundError",
    "Arch", "Stem", "Prediction", "LrDecay", "Loss", "SamplerMethod", "Spacing",
    "ScheduleKind", "Layout", "FloatRange", "Precision", "precision_supported",
    "ImageChannels", "BadImage", "ImageFolderConfig",
    "ModelConfig", "OptimizerConfig", "TrainerConfig", "SamplerConfig",
    "Schedule", "alpha_sigma_from_logsnr", "v_to_x_eps", "eps_to_x", "x_to_eps",
    "x_eps_to_v", "x_eps_to_z",
    "Model", "build_vocab", "Optimizer", "Trainer", "TrainerStats", "Sampler",
    "DistillConfig", "DistillWeighting", "Distiller", "DistillStats",
    "write_png", "write_png_u8", "write_npy", "Dataset",
]


for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type) and _obj.__module__.startswith("simdiff."):
        _obj.__module__ = "simdiff"  # simdiff.FormatError, not simdiff._errors...
del _name, _obj


def version():
    """The loaded library's version string, e.g. '0.1.0'."""
    return LIB.simdiff_version().decode("ascii")


def version_number():
    """The loaded library's 0xMMmmpp version number."""
    return int(LIB.simdiff_version_number())


def runtime_info():
    """One line: library and oneDNN versions, ISA, thread count, bf16
    availability."""
    return LIB.simdiff_runtime_info().decode("utf-8", "replace")


def precision_supported(precision):
    """True if this CPU runs `precision` (a :class:`Precision`, its name or
    number; simdiff_precision_check): "f32" always, "bf16" with native
    bf16 arithmetic."""
    p = Precision.coerce(precision, "precision_supported")
    return LIB.simdiff_precision_check(int(p)) == 0


def set_num_threads(n):
    """Compute threads (0: OpenMP's default). Results never depend on it."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("set_num_threads: expected an int, got %r" % (n,))
    if not -2 ** 31 <= n < 2 ** 31:
        raise OverflowError("set_num_threads: %d is out of range" % n)
    _check(LIB.simdiff_set_num_threads(n))


def get_num_threads():
    """The thread count compute calls will use."""
    return int(LIB.simdiff_get_num_threads())


def set_adaptive_threads(on):
    """Thread counts as budgets (True, the default): each call uses no more
    threads than there are cores not busy with other work (core.h,
    docs/embedding.md); False uses the budget as it is."""
    _check(LIB.simdiff_set_adaptive_threads(1 if on else 0))


def get_adaptive_threads():
    """Whether thread counts adapt to busy cores."""
    return bool(LIB.simdiff_get_adaptive_threads())


def to_rgb8(images, alpha=True):
    """Images (n x C x H x W, or C x H x W; C 1 or 3; floats in [-1, 1] as a
    Sampler returns them) as 8-bit pixels for a texture: n x H x W x 4
    (RGBA, alpha 255) or x 3 with alpha=False, as bytes-like uint8 (a numpy
    array when numpy is there). Quantized as write_png does:
    floor((v + 1) * 127.5 + 0.5), v clamped to [-1, 1]."""
    inp = _arrays.to_input(images, "f", "images")
    shape = tuple(inp.shape)
    single = len(shape) == 3
    if single:
        shape = (1,) + shape
    if len(shape) != 4:
        raise ValueError("to_rgb8: images of shape %s; expected (n, C, H, W) or (C, H, W)"
                         % (tuple(inp.shape),))
    n, c, h, w = shape
    k = 4 if alpha else 3
    out_shape = (n, h, w, k) if not single else (h, w, k)
    out, optr = _arrays.new_output("B", out_shape)
    _check(LIB.simdiff_images_to_rgb8(n, c, h, w, inp.ptr, k, optr))
    return out
