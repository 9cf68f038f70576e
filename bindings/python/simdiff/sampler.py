"""Sampling (sampler.h): draw images from a trained model."""
import ctypes
import numbers
import signal
import threading

from . import _arrays
from ._config import SamplerConfig
from ._errors import Status, check, error_for
from ._handle import Handle, _state_lock
from ._native import LIB, PROGRESS_FN, EditStruct, RunOptionsStruct
from .model import Model, _context_input, _labels_input, _prompts_input
from .schedule import _coerce as _coerce_schedule

__all__ = ["Sampler"]


def _u64_array(values, name):
    """A ctypes uint64 array of the ints in values (each in 0..2**64-1)."""
    vals = list(values)
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v < 2 ** 64:
            raise OverflowError("%s: every seed must be an int in 0..2**64-1, got %r"
                                % (name, v))
    return (ctypes.c_uint64 * max(len(vals), 1))(*[int(v) for v in vals])


class _RunState:
    """What the C progress callback shares with Sampler.__call__. The
    callback refers to this object, never to the Sampler, so the Sampler
    stays collectable."""
    __slots__ = ("progress", "shape", "exc", "interrupted")

    def __init__(self, progress):
        self.progress = progress
        self.shape = None
        self.exc = None
        self.interrupted = False


def _trampoline(state):
    def callback(user, step, total, x_preview):
        # Nothing may escape a ctypes callback: record it and ask to stop.
        try:
            if state.interrupted:
                return 1
            fn = state.progress
            if fn is not None:
                preview = None
                if x_preview:
                    preview = _arrays.from_pointer(x_preview, "f", state.shape)
                # As in C: a truthy return stops the run (CancelledError).
                if fn(step, total, preview):
                    return 1
            return 0
        except BaseException as e:  # KeyboardInterrupt included
            state.exc = e
            return 1
    return PROGRESS_FN(callback)


def _catch_sigint(state, ptr):
    """While a run is in progress on the main thread with Python's default
    SIGINT handler, Ctrl-C cancels the run (simdiff_sampler_cancel, as
    examples/simdiff-sample.c does) and __call__ then raises
    KeyboardInterrupt. A KeyboardInterrupt raised inside the C callback
    could land before its try block and be lost by ctypes. Returns the
    handler to restore, or None when nothing was installed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None

        def on_sigint(signum, frame):
            state.interrupted = True
            LIB.simdiff_sampler_cancel(ptr)

        signal.signal(signal.SIGINT, on_sigint)
    except (ValueError, OSError):  # no signals here (embedded interpreter)
        return None
    return signal.default_int_handler


class Sampler(Handle):
    """Draws images from a model: ``Sampler(model, method="ddim", steps=50,
    guidance=3.0)``, then ``images = sampler(labels=[0, 1, 2], seed=7)``.

    Without `config`, the settings stored with the model
    (``model.sampler_defaults``) are the starting point.
    Keywords: the :class:`SamplerConfig` fields (method, steps, eta,
    guidance, clip_x, spacing, batch_chunk), ``schedule`` (a Schedule or its
    text form; default: the one stored with the model), ``progress`` (a
    callable ``progress(step, total, preview)``; ``preview`` is None, or
    every ``preview_every`` steps a copy of the current x̂ of all images;
    a truthy return value stops the run with CancelledError, as a nonzero
    return does in C).
    An exception raised by ``progress`` stops the run and propagates from
    the call; so does KeyboardInterrupt. :meth:`cancel` stops a run from
    another thread (CancelledError)."""
    _kind = "Sampler"
    _destroy_name = "simdiff_sampler_destroy"

    def __init__(self, model, config=None, *, schedule=None, progress=None,
                 preview_every=0, **overrides):
        if not isinstance(model, Model):
            raise TypeError("Sampler: expected a simdiff.Model, got %r" % (model,))
        if config is None:  # the model's stored settings, else the library's
            cfg = SamplerConfig.for_model(model, **overrides)
        elif isinstance(config, SamplerConfig):
            cfg = config.copy().update(**overrides)
        elif isinstance(config, dict):
            cfg = SamplerConfig(**dict(config, **overrides))
        else:
            raise TypeError("Sampler: config must be a SamplerConfig, a dict or "
                            "None; got %r" % (config,))
        if progress is not None and not callable(progress):
            raise TypeError("Sampler: progress must be callable, got %r" % (progress,))
        schedule, own_schedule = _coerce_schedule(schedule, "Sampler")
        try:
            c = cfg._c
            c.schedule = schedule._handle() if schedule is not None else None
            out = ctypes.c_void_p()
            st = LIB.simdiff_sampler_create(ctypes.byref(out), model._handle(),
                                            ctypes.byref(c))
            c.schedule = None  # copied by the library; do not keep a pointer
            check(st)
            self._schedule_text = schedule.to_string() if schedule is not None else None
        finally:
            if own_schedule is not None:
                own_schedule.close()
        state = _RunState(progress)
        cb = _trampoline(state)
        # The callback object must outlive the C sampler: the finalizer keeps it.
        self._adopt(out.value, owner=model, keep=(cb, state))
        self._state = state
        self._model = model
        self._config = cfg
        check(LIB.simdiff_sampler_set_progress(self._handle(), cb, None))
        self.preview_every = preview_every

    # ---- configuration ----
    @property
    def model(self):
        return self._model

    @property
    def config(self):
        """A copy of the :class:`SamplerConfig` this sampler was made with."""
        return self._config.copy()

    method = property(lambda self: self._config.method, doc="The SamplerMethod.")
    steps = property(lambda self: self._config.steps, doc="Network evaluations.")
    eta = property(lambda self: self._config.eta, doc="DDIM η.")
    guidance = property(lambda self: self._config.guidance,
                        doc="w of uncond + w·(cond − uncond).")
    spacing = property(lambda self: self._config.spacing, doc="The Spacing.")

    @property
    def schedule(self):
        """The text form of the schedule given at creation (None: the
        model's own)."""
        return self._schedule_text

    @property
    def progress(self):
        """The progress callable (or None); may be replaced between runs."""
        return self._state.progress

    @progress.setter
    def progress(self, fn):
        if fn is not None and not callable(fn):
            raise TypeError("progress must be callable or None")
        self._state.progress = fn

    @property
    def preview_every(self):
        """Pass x̂ to progress every k steps (0: never)."""
        return self._preview_every

    @preview_every.setter
    def preview_every(self, k):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError("preview_every must be an int")
        if not 0 <= k < 2 ** 31:
            raise OverflowError("preview_every must be in 0..2**31-1")
        with self._use() as h:
            check(LIB.simdiff_sampler_set_preview_every(h, int(k)))
        self._preview_every = int(k)

    # ---- running ----
    def __call__(self, labels=None, n=None, seed=0, *, init=None, mask=None,
                 strength=1.0, resample=1, resample_jump=1, first_index=0,
                 variation_seed=None, variation_strength=0.0, latents=None, cond=None,
                 contexts=None, context_lengths=None, prompts=None):
        """Draw n images (n x C x H x W floats, in [-1, 1] with clip_x).

        labels: None (unconditional), or n class ids (-1 or None: no
        label); n defaults to len(labels), else to the number of init
        images. seed (0..2**64-1) with the image index determines each
        image's noise: image i is the same whatever n, the batch chunking
        or the thread count.

        Editing (sampler.h, docs/editing.md): ``init`` (C x H x W, one image
        for all: variations, or n x C x H x W) in [-1, 1] and ``strength``
        in (0, 1] start the run at t = strength from the init image
        (image-to-image); ``mask`` (H x W, 1 or C x H x W, or n x 1|C x H x W)
        in [0, 1] keeps the init image where it is 1 and generates where it
        is 0 (inpainting); ``resample`` > 1 with ``resample_jump`` turns on
        RePaint's resampling.

        Seeds (sampler.h, docs/sampling.md "Seeds"): ``seed`` may be a list
        of n seeds, one per image (image j is then image 0 of a run with
        seed seed[j]); ``first_index`` makes the images i = first_index,
        first_index + 1, ... of ``seed`` (redraw image 7 alone with n=1,
        first_index=7). ``variation_seed`` (an int, or n ints) and
        ``variation_strength`` in [0, 1] blend each image's starting noise
        toward that seed's by spherical interpolation. ``latents``
        (n x C x H x W) is the starting noise itself; ``cond`` (n x
        cond_dim) the conditioning vectors of a model with cond_dim.

        Sequence context (docs/text.md): ``contexts`` (n x ctx_len x
        ctx_dim) and ``context_lengths`` (n ints in 1..ctx_len, None: all
        full) of a model with ctx_dim; None is the learned null context,
        which is also guidance's unconditional branch. ``prompts``: n
        strings for a model with the built-in text encoder (n defaults to
        their number; "" is the null context)."""
        if prompts is not None and n is None and labels is None and \
                not isinstance(prompts, (str, bytes)):
            prompts = list(prompts)
            n = len(prompts)
        seeds = None
        if isinstance(seed, (list, tuple)) or (hasattr(seed, "__len__") and
                                              not isinstance(seed, (str, bytes))):
            seeds = _u64_array(seed, "seed")
            if n is None and labels is None:
                n = len(seeds)
            seed = 0
        lab = _labels_input(labels, None)
        edit = self._edit(init, mask, strength, resample, resample_jump)
        if lab is not None:
            if n is not None and n != lab.size:
                raise ValueError("n=%d but %d labels" % (n, lab.size))
            n = lab.size
        if n is None and edit is not None and edit[0].init_count > 1:
            n = edit[0].init_count
        if n is None:
            raise TypeError("Sampler(): give labels or n")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError("n must be an int, got %r" % (n,))
        if not 0 <= n < 2 ** 31:
            raise ValueError("n must be in 0..2**31-1, got %d" % n)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
                or not 0 <= seed < 2 ** 64:
            raise OverflowError("seed must be an int in 0..2**64-1, got %r" % (seed,))
        shape = (n,) + tuple(self._model.image_shape)
        opts, keep = self._options(n, seeds, first_index, variation_seed,
                                   variation_strength, latents, cond, shape)
        cx, cl = _context_input(contexts, context_lengths, n, self._model.config.ctx_dim,
                                self._model.config.ctx_len)
        if cx is not None:
            opts.context = cx.ptr
            keep.append(cx)
        if cl is not None:
            opts.context_len = cl.ptr
            keep.append(cl)
        pr = _prompts_input(prompts, n)
        if pr is not None:
            opts.prompts = pr
            keep.append(pr)
        out, optr = _arrays.new_output("f", shape)
        state = self._state
        with self._use() as h:
            state.exc = None
            state.interrupted = False
            state.shape = shape
            restore = _catch_sigint(state, h)
            try:
                st = LIB.simdiff_sampler_run_with(h, n, lab.ptr if lab else None, seed,
                                                  ctypes.byref(edit[0]) if edit else None,
                                                  ctypes.byref(opts), optr)
            finally:
                if restore is not None:
                    signal.signal(signal.SIGINT, restore)
            exc, state.exc = state.exc, None
        if state.interrupted:
            state.interrupted = False
            raise KeyboardInterrupt
        if exc is not None:
            if st not in (Status.OK, Status.CANCELLED):
                # The run failed on its own as well: keep both.
                exc.__context__ = error_for(st)
            try:
                raise exc
            finally:
                exc = None
        check(st)
        return out

    def _options(self, n, seeds, first_index, variation_seed, variation_strength,
                 latents, cond, shape):
        """(RunOptionsStruct, inputs to keep alive)."""
        o = RunOptionsStruct()
        check(LIB.simdiff_run_options_init_sized(ctypes.byref(o), ctypes.sizeof(o)))
        keep = []
        if seeds is not None:
            if len(seeds) != n:
                raise ValueError("seed: %d seeds for %d images" % (len(seeds), n))
            o.seeds = seeds
            keep.append(seeds)
        if isinstance(first_index, bool) or not isinstance(first_index, numbers.Integral) \
                or not 0 <= first_index < 2 ** 64:
            raise OverflowError("first_index must be an int in 0..2**64-1, got %r"
                                % (first_index,))
        o.first_index = int(first_index)
        if not isinstance(variation_strength, numbers.Real) or \
                isinstance(variation_strength, bool):
            raise TypeError("variation_strength must be a number, got %r"
                            % (variation_strength,))
        if (variation_seed is None) != (variation_strength == 0):
            raise ValueError("variation_seed and variation_strength go together")
        o.variation_strength = float(variation_strength)
        if variation_seed is not None:
            if isinstance(variation_seed, numbers.Integral) and \
                    not isinstance(variation_seed, bool):
                if not 0 <= variation_seed < 2 ** 64:
                    raise OverflowError("variation_seed must be in 0..2**64-1")
                o.variation_seed = int(variation_seed)
            else:
                vs = _u64_array(variation_seed, "variation_seed")
                if len(vs) != n:
                    raise ValueError("variation_seed: %d seeds for %d images" % (len(vs), n))
                o.variation_seeds = vs
                keep.append(vs)
        if latents is not None:
            lat = _arrays.to_input(latents, "f", "latents")
            if tuple(lat.shape) != tuple(shape):
                raise ValueError("latents: shape %s; expected %s" % (tuple(lat.shape),
                                                                     tuple(shape)))
            o.latents = lat.ptr
            keep.append(lat)
        if cond is not None:
            d = self._model.config.cond_dim
            cd = _arrays.to_input(cond, "f", "cond")
            if d <= 0:
                raise ValueError("cond: the model takes no conditioning vector (cond_dim 0)")
            if tuple(cd.shape) != (n, d):
                raise ValueError("cond: shape %s; expected (%d, %d)" % (tuple(cd.shape), n, d))
            o.cond = cd.ptr
            keep.append(cd)
        return o, keep

    def initial_noise(self, n=1, seed=0, *, first_index=0, variation_seed=None,
                      variation_strength=0.0):
        """The starting noise (n x C x H x W) of a run with these seeds: pass
        it back, changed, as ``latents``."""
        seeds = None
        if not isinstance(seed, numbers.Integral):
            seeds = _u64_array(seed, "seed")
            n = len(seeds)
            seed = 0
        shape = (n,) + tuple(self._model.image_shape)
        opts, keep = self._options(n, seeds, first_index, variation_seed,
                                   variation_strength, None, None, shape)
        out, optr = _arrays.new_output("f", shape)
        with self._use() as h:
            check(LIB.simdiff_sampler_initial_noise(h, n, int(seed), ctypes.byref(opts), optr))
        return out

    @property
    def sticky_cancel(self):
        """Keep a cancel() that arrives between runs for the next run
        (default False: such a cancel is discarded)."""
        return getattr(self, "_sticky", False)

    @sticky_cancel.setter
    def sticky_cancel(self, on):
        with self._use() as h:
            check(LIB.simdiff_sampler_set_sticky_cancel(h, 1 if on else 0))
        self._sticky = bool(on)

    def _edit(self, init, mask, strength, resample, resample_jump):
        """(EditStruct, inputs to keep alive), or None for a plain run."""
        if init is None and mask is None and strength == 1.0 and resample == 1:
            return None
        e = EditStruct()
        check(LIB.simdiff_edit_init_sized(ctypes.byref(e), ctypes.sizeof(e)))
        chw = tuple(self._model.image_shape)
        keep = []
        if init is not None:
            inp = _arrays.to_input(init, "f", "init")
            if inp.shape == chw:
                e.init_count = 1
            elif len(inp.shape) == 4 and tuple(inp.shape[1:]) == chw:
                e.init_count = inp.shape[0]
            else:
                raise ValueError("init: shape %s; expected (%d, %d, %d) or (n, %d, %d, %d)"
                                 % ((inp.shape,) + chw + chw))
            e.init = inp.ptr
            e.channels, e.height, e.width = chw
            keep.append(inp)
        if mask is not None:
            mk = _arrays.to_input(mask, "f", "mask")
            hw = chw[1:]
            sh = tuple(mk.shape)
            if sh == hw:
                e.mask_count, e.mask_channels = 1, 1
            elif len(sh) == 3 and sh[1:] == hw and sh[0] in (1, chw[0]):
                e.mask_count, e.mask_channels = 1, sh[0]
            elif len(sh) == 4 and sh[2:] == hw and sh[1] in (1, chw[0]):
                e.mask_count, e.mask_channels = sh[0], sh[1]
            else:
                raise ValueError("mask: shape %s; expected (%d, %d), (1|%d, %d, %d) or "
                                 "(n, 1|%d, %d, %d)" % ((sh,) + hw + (chw[0],) + hw
                                                        + (chw[0],) + hw))
            e.mask = mk.ptr
            keep.append(mk)
        for name, v in (("resample", resample), ("resample_jump", resample_jump)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) \
                    or not 1 <= v < 2 ** 31:
                raise ValueError("%s must be an int >= 1, got %r" % (name, v))
        if not isinstance(strength, numbers.Real):
            raise TypeError("strength must be a number, got %r" % (strength,))
        e.strength = float(strength)
        e.resample = int(resample)
        e.resample_jump = int(resample_jump)
        return e, keep

    def evals(self, *, strength=1.0, resample=1, resample_jump=1, masked=False):
        """Network evaluations per image of a run with these edit settings
        (each is a batched call of two rows under guidance)."""
        c, h, w = self._model.image_shape
        dummy = [[[0.0] * w] * h] * c
        edit = self._edit(dummy if (strength != 1.0 or masked) else None,
                          [[1.0] * w] * h if masked else None,
                          strength, resample, resample_jump)
        out = ctypes.c_int()
        with self._use() as hd:
            check(LIB.simdiff_sampler_edit_evals(
                hd, ctypes.byref(edit[0]) if edit else None, ctypes.byref(out)))
        return out.value

    sample = run = __call__

    def cancel(self):
        """Ask the run in progress (on another thread) to stop; it raises
        CancelledError. A cancel between runs is discarded (see sampler.h),
        unless :attr:`sticky_cancel` is on."""
        with _state_lock:  # close() cannot free the handle meanwhile
            ptr = self._ptr
            if ptr is not None:
                LIB.simdiff_sampler_cancel(ptr)

    def _repr_detail(self):
        c = self._config
        return " %s, %d steps, guidance %g" % (c.method.name.lower(), c.steps,
                                               c.guidance)
