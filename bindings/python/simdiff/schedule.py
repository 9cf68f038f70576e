"""Noise schedules (schedule.h) and the v / eps / x helpers."""
import ctypes
import numbers

from . import _arrays
from ._config import ScheduleKind
from ._errors import check
from ._handle import Handle
from ._native import LIB

__all__ = ["Schedule", "alpha_sigma_from_logsnr", "v_to_x_eps", "eps_to_x",
           "x_to_eps", "x_eps_to_v", "x_eps_to_z"]

_STRING_MAX = 128     # SIMDIFF_SCHEDULE_STRING_MAX
_DESCRIBE_MAX = 512   # SIMDIFF_SCHEDULE_DESCRIBE_MAX


def _map_doubles(x, nout, call, name):
    """Apply a C batch function of doubles to x (a number or an array):
    call(n, in_ptr, *out_ptrs). A number gives floats, an array arrays of
    the same shape."""
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        xin = (ctypes.c_double * 1)(float(x))
        outs = [(ctypes.c_double * 1)() for _ in range(nout)]
        check(call(1, xin, *outs))
        res = [o[0] for o in outs]
        return res[0] if nout == 1 else tuple(res)
    inp = _arrays.to_input(x, "d", name)
    outs = [_arrays.new_output("d", inp.shape) for _ in range(nout)]
    check(call(inp.size, inp.ptr, *[p for _, p in outs]))
    res = [a for a, _ in outs]
    return res[0] if nout == 1 else tuple(res)


class Schedule(Handle):
    """An immutable noise schedule λ(t) = log SNR(t), t ∈ [0, 1].

    ``Schedule("shifted(128,64)")`` parses the text form; the class methods
    :meth:`cosine`, :meth:`shifted` and :meth:`interpolated` build one from
    numbers. Evaluation takes a number (gives a float) or an array (gives
    an array of the same shape)."""
    _kind = "Schedule"
    _destroy_name = "simdiff_schedule_destroy"

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError("Schedule(text): expected the text form, e.g. "
                            "'shifted(128,64)'; got %r (use Schedule.cosine(), "
                            ".shifted() or .interpolated() for numbers)" % (text,))
        out = ctypes.c_void_p()
        check(LIB.simdiff_schedule_from_string(ctypes.byref(out), text.encode("utf-8")))
        self._adopt(out.value)

    @classmethod
    def _make(cls, fn, *args):
        out = ctypes.c_void_p()
        check(fn(ctypes.byref(out), *args))
        self = cls.__new__(cls)
        self._adopt(out.value)
        return self

    @classmethod
    def cosine(cls, logsnr_min=-15.0, logsnr_max=15.0):
        """cosine(λ_min, λ_max): λ(0) = λ_max, λ(1) = λ_min."""
        return cls._make(LIB.simdiff_schedule_create_cosine,
                         float(logsnr_min), float(logsnr_max))

    @classmethod
    def shifted(cls, image_d, base_d=64):
        """cosine(-15, 15) + 2·log(base_d / image_d)."""
        return cls._make(LIB.simdiff_schedule_create_shifted,
                         _int(image_d, "image_d"), _int(base_d, "base_d"))

    @classmethod
    def interpolated(cls, image_d, noise_d_at_t0, noise_d_at_t1):
        """(1 − t)·shifted(image_d, noise_d_at_t0) + t·shifted(image_d,
        noise_d_at_t1). The paper's 512×512 preset is (512, 256, 32)."""
        return cls._make(LIB.simdiff_schedule_create_interpolated,
                         _int(image_d, "image_d"),
                         _int(noise_d_at_t0, "noise_d_at_t0"),
                         _int(noise_d_at_t1, "noise_d_at_t1"))

    @classmethod
    def from_string(cls, text):
        """Parse the text form (strict; FormatError or InvalidArgumentError)."""
        return cls(text)

    def copy(self):
        """An independent copy (simdiff_schedule_clone)."""
        return Schedule._make(LIB.simdiff_schedule_clone, self._handle())

    __copy__ = copy

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        return (Schedule, (self.to_string(),))

    # ---- evaluation ----
    def logsnr(self, t):
        """λ(t) for a number or an array of t in [0, 1]."""
        h = self._handle()
        return _map_doubles(t, 1, lambda n, a, o: LIB.simdiff_schedule_logsnr(
            h, n, a, o), "t")

    def alpha_sigma(self, t):
        """(α(t), σ(t)), accurate at both tails."""
        h = self._handle()
        return _map_doubles(t, 2, lambda n, a, o1, o2: LIB.simdiff_schedule_alpha_sigma(
            h, n, a, o1, o2), "t")

    def t_from_logsnr(self, logsnr):
        """The inverse of logsnr(): t with λ(t) = logsnr (clamped to [0, 1])."""
        h = self._handle()
        return _map_doubles(logsnr, 1, lambda n, a, o: LIB.simdiff_schedule_t_from_logsnr(
            h, n, a, o), "logsnr")

    # ---- what it is ----
    @property
    def kind(self):
        """A :class:`ScheduleKind`."""
        k = ctypes.c_int()
        check(LIB.simdiff_schedule_get_kind(self._handle(), ctypes.byref(k)))
        return ScheduleKind(k.value)

    @property
    def cosine_range(self):
        """(λ_min, λ_max) of the underlying cosine, before any shift."""
        a, b = ctypes.c_double(), ctypes.c_double()
        check(LIB.simdiff_schedule_get_cosine_range(self._handle(), ctypes.byref(a),
                                                    ctypes.byref(b)))
        return a.value, b.value

    @property
    def resolutions(self):
        """(image_d, noise_d_at_t0, noise_d_at_t1); zeros for cosine."""
        a, b, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        check(LIB.simdiff_schedule_get_resolutions(
            self._handle(), ctypes.byref(a), ctypes.byref(b), ctypes.byref(c)))
        return a.value, b.value, c.value

    @property
    def shifts(self):
        """(shift_at_t0, shift_at_t1): the log-SNR shifts added at each end."""
        a, b = ctypes.c_double(), ctypes.c_double()
        check(LIB.simdiff_schedule_get_shifts(self._handle(), ctypes.byref(a),
                                              ctypes.byref(b)))
        return a.value, b.value

    def describe(self):
        """A human-readable one-line description (not a stable format)."""
        buf = ctypes.create_string_buffer(_DESCRIBE_MAX)
        check(LIB.simdiff_schedule_describe(self._handle(), buf, len(buf)))
        return buf.value.decode("utf-8")

    def to_string(self):
        """The canonical text form, e.g. 'interpolated(512,256,32)'."""
        buf = ctypes.create_string_buffer(_STRING_MAX)
        check(LIB.simdiff_schedule_to_string(self._handle(), buf, len(buf)))
        return buf.value.decode("utf-8")

    __str__ = to_string

    def _repr_detail(self):
        return " %s" % self.to_string()

    def __repr__(self):
        if self.closed:
            return "<simdiff.Schedule (closed)>"
        return "Schedule(%r)" % self.to_string()

    def __eq__(self, other):
        if not isinstance(other, Schedule):
            return NotImplemented
        return self.to_string() == other.to_string()

    def __hash__(self):
        return hash(self.to_string())


def _coerce(schedule, who):
    """(schedule, owned): a Schedule or None as given, or a new Schedule
    from its text form -- then also returned as `owned`, for the caller to
    close once the library has copied it."""
    if isinstance(schedule, str):
        schedule = Schedule(schedule)
        return schedule, schedule
    if schedule is not None and not isinstance(schedule, Schedule):
        raise TypeError("%s: schedule must be a Schedule, its text form or None; "
                        "got %r" % (who, schedule))
    return schedule, None


def _int(v, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError("%s: expected an int, got %r" % (name, v))
    if not -2 ** 31 <= v < 2 ** 31:
        raise OverflowError("%s: %d is out of range" % (name, v))
    return int(v)


def alpha_sigma_from_logsnr(logsnr):
    """(α, σ) = (sqrt(sigmoid(λ)), sqrt(sigmoid(−λ))), stable at both tails;
    ±inf allowed. A number gives floats, an array arrays."""
    return _map_doubles(logsnr, 2, LIB.simdiff_alpha_sigma_from_logsnr, "logsnr")


# ---- parametrization helpers ------------------------------------------------

def _helper(fn, a, b, alpha, sigma, names, nout=1):
    al = _arrays.to_input(alpha, "d", "alpha")
    si = _arrays.to_input(sigma, "d", "sigma")
    if len(al.shape) != 1 or al.shape != si.shape:
        raise ValueError("alpha and sigma must be 1-d arrays of the same length "
                         "(one per example); got shapes %s and %s" % (al.shape, si.shape))
    n = al.size
    A = _arrays.to_input(a, "f", names[0])
    B = _arrays.to_input(b, "f", names[1])
    if A.size != B.size:
        raise ValueError("%s and %s differ in size (%d, %d)" % (names[0], names[1],
                                                               A.size, B.size))
    if n == 0:
        per = 0
        if A.size:
            raise ValueError("alpha is empty but %s is not" % names[0])
    else:
        if A.size % n:
            raise ValueError("%s has %d values, not a multiple of the %d examples"
                             % (names[0], A.size, n))
        per = A.size // n
    outs = [_arrays.new_output("f", A.shape) for _ in range(nout)]
    check(fn(n, per, A.ptr, B.ptr, al.ptr, si.ptr, *[p for _, p in outs]))
    res = [o for o, _ in outs]
    return res[0] if nout == 1 else tuple(res)


def v_to_x_eps(z, v, alpha, sigma):
    """(x̂, ε̂) = (α·z − σ·v, σ·z + α·v), per example (n × ...)."""
    return _helper(LIB.simdiff_v_to_x_eps, z, v, alpha, sigma, ("z", "v"), 2)


def eps_to_x(z, eps, alpha, sigma):
    """x̂ = (z − σ·ε)/α."""
    return _helper(LIB.simdiff_eps_to_x, z, eps, alpha, sigma, ("z", "eps"))


def x_to_eps(z, x, alpha, sigma):
    """ε̂ = (z − α·x)/σ."""
    return _helper(LIB.simdiff_x_to_eps, z, x, alpha, sigma, ("z", "x"))


def x_eps_to_v(x, eps, alpha, sigma):
    """v = α·ε − σ·x (the training target)."""
    return _helper(LIB.simdiff_x_eps_to_v, x, eps, alpha, sigma, ("x", "eps"))


def x_eps_to_z(x, eps, alpha, sigma):
    """z = α·x + σ·ε (the forward process)."""
    return _helper(LIB.simdiff_x_eps_to_z, x, eps, alpha, sigma, ("x", "eps"))
