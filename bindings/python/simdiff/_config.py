"""Enums and the keyword-argument configs over the C config structs.

Every config is filled by the library's _config_init_sized() first, given
the ctypes mirror's sizeof (so the defaults are the library's and the
library writes exactly our struct), then keyword overrides are applied; an unknown
keyword is a TypeError that lists the valid names.
"""
import ctypes
import enum
import numbers

from ._errors import InvalidArgumentError, check, error_for
from ._native import (LIB, MAX_LEVELS, DistillConfigStruct, ImageFolderConfigStruct,
                      ModelConfigStruct,
                      OptimizerConfigStruct, SamplerConfigStruct, TrainerConfigStruct)


class _Enum(enum.IntEnum):
    """An enum of the C API; _c names it in simdiff_<_c>_from_name, the
    library's reading of names (any case, '-', '_' and spaces ignored, the
    aliases of the C header); set below each class."""

    @classmethod
    def coerce(cls, value, what):
        """A member from a member, its int value, or its name."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            out = ctypes.c_int()
            fn = getattr(LIB, "simdiff_%s_from_name" % cls._c)
            try:
                name = value.encode("utf-8")
            except UnicodeError:
                name = None
            if name is not None and b"\0" not in name and \
                    fn(name, ctypes.byref(out)) == 0:
                return cls(out.value)
            raise ValueError("%s: unknown %s %r; expected one of %s" % (
                what, cls.__name__, value,
                ", ".join(repr(m.name.lower()) for m in cls)))
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError("%s: expected a %s, its name or its number; got %r"
                            % (what, cls.__name__, value))
        try:
            return cls(int(value))
        except ValueError:
            # A number these bindings do not know (a newer library may):
            # let the library judge it.
            return int(value)

    @property
    def c_name(self):
        """The library's name of this value (simdiff_<enum>_name)."""
        return getattr(LIB, "simdiff_%s_name" % self._c)(int(self)).decode()

    def __repr__(self):
        return "%s.%s" % (type(self).__name__, self.name)

    __str__ = __repr__


class Arch(_Enum):
    """simdiff_arch: the network."""
    UNET = 1
    UVIT = 2


class Stem(_Enum):
    """simdiff_stem: the network's first and last ops."""
    NONE = 0
    PATCH = 1
    DWT = 2
    DWT_UNIT = 3


class Prediction(_Enum):
    """simdiff_prediction: what the network predicts."""
    V = 0
    EPS = 1


class LrDecay(_Enum):
    """simdiff_lr_decay: the learning rate after warmup."""
    CONSTANT = 0
    COSINE = 1


class Loss(_Enum):
    """simdiff_loss: the training loss."""
    EPS = 0
    V = 1
    MULTISCALE = 2


class SamplerMethod(_Enum):
    """simdiff_sampler_method."""
    DDPM = 0
    DDIM = 1
    DPMPP_2M = 2


class Spacing(_Enum):
    """simdiff_spacing: how the sampler's steps are spaced."""
    UNIFORM_T = 0
    UNIFORM_LOGSNR = 1


class Precision(_Enum):
    """simdiff_precision: arithmetic of the matrix ops (bf16 needs a CPU
    with native bf16; see simdiff_precision_check)."""
    F32 = 0
    BF16 = 1


class ScheduleKind(_Enum):
    """simdiff_schedule_kind."""
    COSINE = 0
    SHIFTED = 1
    INTERPOLATED = 2


class Layout(_Enum):
    """simdiff_layout of 4-d image arrays in .npy datasets."""
    AUTO = 0
    NHWC = 1
    NCHW = 2


class ImageChannels(_Enum):
    """simdiff_image_channels: channels of an image-folder dataset."""
    AUTO = 0  # 1 when every file is greyscale and the background grey, else 3
    GRAY = 1
    RGB = 3


class BadImage(_Enum):
    """simdiff_bad_image: what opening a folder does with an unreadable file."""
    FAIL = 0  # fail naming the file
    SKIP = 1  # leave it out and count it (Dataset.skipped)


class FloatRange(_Enum):
    """simdiff_float_range: how float .npy images are read."""
    ZERO_ONE = 0  # [0, 1], mapped to [-1, 1]
    PM1 = 1       # already in [-1, 1]


class DistillWeighting(_Enum):
    """simdiff_distill_weighting: the weight of the distillation loss."""
    TRUNCATED_SNR = 0  # max(alpha^2/sigma^2, 1)
    SNR_PLUS_ONE = 1   # alpha^2/sigma^2 + 1


for _cls, _c in (
        (Arch, "arch"),
        (Stem, "stem"),
        (Prediction, "prediction"),
        (LrDecay, "lr_decay"),
        (Loss, "loss"),
        (SamplerMethod, "sampler_method"),
        (Spacing, "spacing"),
        (ScheduleKind, "schedule_kind"),
        (Layout, "layout"),
        (FloatRange, "float_range"),
        (Precision, "precision"),
        (ImageChannels, "image_channels"),
        (BadImage, "bad_image"),
        (DistillWeighting, "distill_weighting"),
):
    _cls._c = _c  # after the class body: a plain attribute, not a member


# ---- configs -----------------------------------------------------------------

_INT_RANGES = {
    ctypes.c_int: (-2 ** 31, 2 ** 31 - 1),
    ctypes.c_int64: (-2 ** 63, 2 ** 63 - 1),
    ctypes.c_uint: (0, 2 ** 32 - 1),
    ctypes.c_uint64: (0, 2 ** 64 - 1),
}


def _shortest_float32(v):
    """The shortest decimal that rounds to the same float32 as v (0.1, not
    0.10000000149011612)."""
    if v != v or v in (float("inf"), float("-inf")):
        return v
    for digits in range(1, 10):
        s = float("%.*g" % (digits, v))
        if ctypes.c_float(s).value == v:
            return s
    return v


class _Config:
    """Keyword-argument access to one C config struct (see subclasses)."""
    _struct = None      # the ctypes Structure
    _enums = {}         # field -> _Enum subclass
    _bools = ()         # int fields shown as bool
    _skip = ("struct_size",)

    def __init__(self, **overrides):
        object.__setattr__(self, "_c", self._struct())
        self._init_defaults()
        self.update(**overrides)

    def _init_defaults(self):
        raise NotImplementedError

    @classmethod
    def fields(cls):
        """The names accepted as keywords and attributes, in struct order."""
        return tuple(f for f, _ in cls._struct._fields_ if f not in cls._skip)

    @classmethod
    def _ctype(cls, name):
        return dict(cls._struct._fields_)[name]

    def update(self, **overrides):
        """Set several fields at once (unknown names: TypeError)."""
        self._reject_unknown(overrides)
        for k, v in overrides.items():
            setattr(self, k, v)
        return self

    @classmethod
    def _reject_unknown(cls, names, extra=()):
        bad = [k for k in names if k not in cls.fields() and k not in extra]
        if bad:
            raise TypeError("%s: unknown keyword argument%s %s; valid names: %s" % (
                cls.__name__, "s" if len(bad) > 1 else "",
                ", ".join(repr(b) for b in bad),
                ", ".join(sorted(cls.fields() + tuple(extra)))))

    def __getattr__(self, name):
        if name.startswith("_") or name not in self.fields():
            raise AttributeError("%s has no field %r" % (type(self).__name__, name))
        v = getattr(self._c, name)
        if name in self._enums:
            try:
                return self._enums[name](v)
            except ValueError:
                return v
        if name in self._bools:
            return bool(v)
        if self._ctype(name) is ctypes.c_float:
            return _shortest_float32(v)
        return v

    def __setattr__(self, name, value):
        if name not in self.fields():
            raise AttributeError("%s has no field %r; valid names: %s" % (
                type(self).__name__, name, ", ".join(self.fields())))
        setattr(self._c, name, self._convert(name, value))

    def _convert(self, name, value):
        what = "%s.%s" % (type(self).__name__, name)
        if name in self._enums:
            return int(self._enums[name].coerce(value, what))
        ct = self._ctype(name)
        if name in self._bools:
            if not isinstance(value, (bool, numbers.Integral)):
                raise TypeError("%s: expected a bool, got %r" % (what, value))
            return 1 if value else 0
        if ct in _INT_RANGES:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError("%s: expected an int, got %r" % (what, value))
            lo, hi = _INT_RANGES[ct]
            if not lo <= value <= hi:
                raise OverflowError("%s: %d is outside %d..%d" % (what, value, lo, hi))
            return int(value)
        if ct in (ctypes.c_double, ctypes.c_float):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError("%s: expected a number, got %r" % (what, value))
            return float(value)
        raise TypeError("%s cannot be set" % what)

    def to_dict(self):
        """{field: value} of every field."""
        return {f: getattr(self, f) for f in self.fields()}

    def copy(self):
        new = type(self).__new__(type(self))
        object.__setattr__(new, "_c", self._struct.from_buffer_copy(self._c))
        return new

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % kv for kv in self.to_dict().items()))

    def _struct_ref(self):
        return ctypes.byref(self._c)

    def _size(self):
        """The struct_size these bindings pass: the ctypes mirror's sizeof."""
        return ctypes.sizeof(self._c)


class ModelConfig(_Config):
    """simdiff_model_config: ``ModelConfig(arch, image_size, channels=1,
    **overrides)``. The defaults come from simdiff_model_config_init() for
    that architecture and size; ``level_channels`` / ``level_blocks`` are
    tuples whose length is ``num_levels`` (setting one sets num_levels)."""
    _struct = ModelConfigStruct
    _enums = {"arch": Arch, "stem": Stem, "prediction": Prediction}

    def __init__(self, arch, image_size, channels=1, **overrides):
        object.__setattr__(self, "_c", self._struct())
        a = Arch.coerce(arch, "ModelConfig.arch")
        for name, v in (("image_size", image_size), ("channels", channels)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError("ModelConfig.%s: expected an int, got %r" % (name, v))
        lo, hi = _INT_RANGES[ctypes.c_int]
        if not (lo <= image_size <= hi and lo <= channels <= hi):
            raise InvalidArgumentError("ModelConfig: image_size %d or channels %d "
                                       "out of range" % (image_size, channels))
        check(LIB.simdiff_model_config_init_sized(self._struct_ref(), self._size(), int(a),
                                                  int(image_size), int(channels)))
        self.update(**overrides)

    def update(self, **overrides):
        self._reject_unknown(overrides)
        lc, lb = overrides.get("level_channels"), overrides.get("level_blocks")
        if lc is not None and lb is not None and len(lc) != len(lb):
            raise ValueError("ModelConfig: level_channels has %d entries but "
                             "level_blocks %d" % (len(lc), len(lb)))
        # num_levels first, then the arrays (which set it), then the rest.
        order = sorted(overrides, key=lambda k: (
            0 if k == "num_levels" else 1 if k.startswith("level_") else 2))
        for k in order:
            setattr(self, k, overrides[k])
        return self

    def __getattr__(self, name):
        if name in ("level_channels", "level_blocks"):
            n = max(0, min(MAX_LEVELS, self._c.num_levels))
            return tuple(getattr(self._c, name)[:n])
        return super().__getattr__(name)

    def __setattr__(self, name, value):
        if name in ("level_channels", "level_blocks"):
            try:
                vals = list(value)
            except TypeError:
                raise TypeError("ModelConfig.%s: expected a sequence of ints, "
                                "got %r" % (name, value)) from None
            if not 1 <= len(vals) <= MAX_LEVELS:
                raise InvalidArgumentError("ModelConfig.%s: %d levels; expected 1..%d"
                                           % (name, len(vals), MAX_LEVELS))
            arr = getattr(self._c, name)
            for i, v in enumerate(vals):
                if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                    raise TypeError("ModelConfig.%s: expected ints, got %r" % (name, v))
                lo, hi = _INT_RANGES[ctypes.c_int]
                if not lo <= v <= hi:
                    raise OverflowError("ModelConfig.%s: %d out of range" % (name, v))
                arr[i] = int(v)
            self._c.num_levels = len(vals)
            return
        super().__setattr__(name, value)

    def validate(self):
        """Check the config without building anything
        (simdiff_model_config_validate); InvalidArgumentError says what to
        change."""
        buf = ctypes.create_string_buffer(1024)
        st = LIB.simdiff_model_config_validate(ctypes.byref(self._c), buf, len(buf))
        if st != 0:
            msg = buf.value.decode("utf-8", "replace")
            raise error_for(st, msg or None)
        return self

    @classmethod
    def _from_struct(cls, c):
        new = cls.__new__(cls)
        object.__setattr__(new, "_c", c)
        return new


class OptimizerConfig(_Config):
    """simdiff_optimizer_config: AdamW + learning-rate schedule + clipping +
    EMA, e.g. ``OptimizerConfig(lr=1e-3, warmup_steps=100)``."""
    _struct = OptimizerConfigStruct
    _enums = {"decay": LrDecay}

    def _init_defaults(self):
        check(LIB.simdiff_optimizer_config_init_sized(self._struct_ref(), self._size()))


class TrainerConfig(_Config):
    """simdiff_trainer_config: the loss, label dropout, t sampling, seed."""
    _struct = TrainerConfigStruct
    _enums = {"loss": Loss, "precision": Precision}
    _bools = ("stratified_t",)

    def _init_defaults(self):
        check(LIB.simdiff_trainer_config_init_sized(self._struct_ref(), self._size()))


class DistillConfig(_Config):
    """simdiff_distill_config: the first teacher's steps, the guidance folded
    in, seed, precision, threads and loss weighting, e.g.
    ``DistillConfig(teacher_steps=16, guidance=3)``."""
    _struct = DistillConfigStruct
    _enums = {"precision": Precision, "weighting": DistillWeighting}

    def _init_defaults(self):
        check(LIB.simdiff_distill_config_init_sized(self._struct_ref(), self._size()))


class SamplerConfig(_Config):
    """simdiff_sampler_config without the schedule pointer (a Sampler takes
    the schedule as its own keyword)."""
    _struct = SamplerConfigStruct
    _enums = {"method": SamplerMethod, "spacing": Spacing, "precision": Precision}
    _bools = ("clip_x", "guidance_interval")
    _skip = ("struct_size", "schedule")

    def _init_defaults(self):
        check(LIB.simdiff_sampler_config_init_sized(self._struct_ref(), self._size()))

    @classmethod
    def for_model(cls, model, **overrides):
        """The settings stored with `model` (simdiff_sampler_config_init_for_
        model: the library defaults where the model stores none), then
        `overrides`."""
        new = cls.__new__(cls)
        object.__setattr__(new, "_c", SamplerConfigStruct())
        check(LIB.simdiff_sampler_config_init_for_model_sized(new._struct_ref(), new._size(),
                                                              model._handle()))
        return new.update(**overrides)


class ImageFolderConfig(_Config):
    """simdiff_image_folder_config: how Dataset.open_folder() reads a folder,
    e.g. ``ImageFolderConfig(size=128, channels="rgb", background=0x000000,
    on_bad_image="skip")``. background: 0xRRGGBB or an (r, g, b) tuple."""
    _struct = ImageFolderConfigStruct
    _enums = {"channels": ImageChannels, "on_bad_image": BadImage}

    def _init_defaults(self):
        check(LIB.simdiff_image_folder_config_init_sized(self._struct_ref(), self._size()))

    def _convert(self, name, value):
        if name == "background" and isinstance(value, (tuple, list)):
            if len(value) != 3 or not all(
                    isinstance(v, numbers.Integral) and not isinstance(v, bool)
                    and 0 <= v <= 255 for v in value):
                raise ValueError("ImageFolderConfig.background: expected 0xRRGGBB or "
                                 "(r, g, b) with each in 0..255, got %r" % (value,))
            value = (int(value[0]) << 16) | (int(value[1]) << 8) | int(value[2])
        return super()._convert(name, value)
