"""Training (train.h): the AdamW + EMA optimizer and the trainer."""
import collections
import contextlib
import ctypes
import numbers
import weakref

from . import _arrays
from ._config import OptimizerConfig, TrainerConfig
from ._errors import check
from ._handle import Handle
from ._native import LIB, TrainerStatsStruct
from .model import (Model, _context_input, _images_input, _labels_input, _prompts_input,
                    fspath)
from .schedule import Schedule

__all__ = ["Optimizer", "Trainer", "TrainerStats"]

TrainerStats = collections.namedtuple(
    "TrainerStats", "step skipped last_loss last_grad_norm lr")
TrainerStats.__doc__ = """simdiff_trainer_stats: steps taken (applied +
skipped), skipped (non-finite) steps, the last loss, the last gradient norm
before clipping, and the learning rate of the next update."""


def _config(cls, config, overrides, what):
    if config is None:
        return cls(**overrides)
    if isinstance(config, dict):
        merged = dict(config)
        merged.update(overrides)
        return cls(**merged)
    if isinstance(config, cls):
        return config.copy().update(**overrides) if overrides else config
    raise TypeError("%s: expected a %s, a dict or None; got %r"
                    % (what, cls.__name__, config))


def _model_arg(model, what):
    if not isinstance(model, Model):
        raise TypeError("%s: expected a simdiff.Model, got %r" % (what, model))
    model._handle()
    return model


class Optimizer(Handle):
    """AdamW with a learning-rate schedule, gradient clipping and an EMA of
    the weights, for every parameter of a trainer's model.

    A Trainer makes and owns its own, configured by its ``optimizer``
    argument; ``trainer.optimizer`` gives it. There is no standalone
    optimizer: ``Optimizer(...)`` raises TypeError."""
    _kind = "Optimizer"

    def __init__(self, *args, **kwargs):
        raise TypeError("simdiff.Optimizer: an optimizer belongs to a Trainer; "
                        "configure it with Trainer(..., optimizer=dict(...)) "
                        "and reach it as trainer.optimizer")

    @classmethod
    def _borrow(cls, ptr, trainer):
        self = cls.__new__(cls)
        self._adopt(ptr, owner=trainer, borrowed=True)
        self._model = trainer.model
        return self

    @property
    def model(self):
        return self._model

    @property
    def lr(self):
        """The learning rate the next update will use."""
        return LIB.simdiff_optimizer_lr(self._handle())

    @property
    def step_count(self):
        """Updates applied so far."""
        return int(LIB.simdiff_optimizer_step_count(self._handle()))

    def swap_ema(self):
        """Swap the EMA weights with the model's (call again to swap back)."""
        with self._use() as h:
            check(LIB.simdiff_optimizer_swap_ema(h))

    @contextlib.contextmanager
    def ema_weights(self):
        """``with opt.ema_weights(): model.save_safetensors(p)``: the model
        holds the EMA weights inside the block, its raw weights after."""
        self.swap_ema()
        try:
            yield self._model
        finally:
            self.swap_ema()


class _Trains(Handle):
    """What a Trainer and a Distiller share: the model they train, its
    optimizer, and loading from a checkpoint (simdiff_<noun>_load/
    _optimizer, noun = _noun)."""
    _noun = None

    def _init(self, ptr, model):
        self._adopt(ptr, owner=model)
        self._model = model
        self._optimizer = None

    @classmethod
    def _load(cls, path):
        out, mout = ctypes.c_void_p(), ctypes.c_void_p()
        check(getattr(LIB, "simdiff_%s_load" % cls._noun)(
            ctypes.byref(out), ctypes.byref(mout), fspath(path)))
        model = Model._wrap(mout.value)
        self = cls.__new__(cls)
        self._init(out.value, model)
        return self

    @property
    def model(self):
        """The model being trained."""
        return self._model

    @property
    def optimizer(self):
        """The :class:`Optimizer` of the model being trained (valid while
        this handle lives)."""
        h = self._handle()
        opt = self._optimizer() if self._optimizer is not None else None
        if opt is None or opt.closed:
            opt = Optimizer._borrow(getattr(LIB, "simdiff_%s_optimizer" % self._noun)(h), self)
            self._optimizer = weakref.ref(opt)
        return opt


class Trainer(_Trains):
    """One whole diffusion training step per :meth:`step` call.

    ``Trainer(model, schedule, loss="eps", seed=0, optimizer=dict(lr=1e-3))``:
    schedule is a Schedule or its text form; keywords set
    :class:`TrainerConfig` fields; optimizer is an OptimizerConfig, a dict
    of its fields, or None for the defaults."""
    _kind = "Trainer"
    _destroy_name = "simdiff_trainer_destroy"
    _noun = "trainer"

    def __init__(self, model, schedule, config=None, *, optimizer=None, **overrides):
        model = _model_arg(model, "Trainer")
        if isinstance(schedule, str):
            with Schedule(schedule) as s:
                self._create(model, s, config, optimizer, overrides)
        elif isinstance(schedule, Schedule):
            self._create(model, schedule, config, optimizer, overrides)
        else:
            raise TypeError("Trainer: schedule must be a Schedule or its text "
                            "form, got %r" % (schedule,))

    def _create(self, model, schedule, config, optimizer, overrides):
        tcfg = _config(TrainerConfig, config, overrides, "Trainer")
        ocfg = _config(OptimizerConfig, optimizer, {}, "Trainer optimizer")
        out = ctypes.c_void_p()
        check(LIB.simdiff_trainer_create(ctypes.byref(out), model._handle(),
                                         schedule._handle(), tcfg._struct_ref(),
                                         ocfg._struct_ref()))
        self._init(out.value, model)

    @classmethod
    def load(cls, path):
        """Resume from a checkpoint written by :meth:`save`: the trainer and
        its model (``trainer.model``) exactly as they were."""
        return cls._load(path)

    def step(self, x, labels=None, cond=None, *, contexts=None, context_lengths=None,
             captions=None):
        """One training step on x (n x C x H x W in [-1, 1]) with labels (n
        class ids, or None: unconditional) and, for a model with cond_dim,
        conditioning vectors cond (n x cond_dim, or None: zeros) and, for a
        model with ctx_dim, contexts (n x ctx_len x ctx_dim, or None: the
        null context) with context_lengths (n ints in 1..ctx_len, or None:
        all full); each drops to the null context with probability
        TrainerConfig.ctx_dropout. For a model with the built-in text
        encoder, captions: n strings (each dropped with the same
        probability). Returns the loss (NaN when the step was skipped as
        non-finite)."""
        xin, n, _ = _images_input(x, self._model.image_shape, "x")
        lab = _labels_input(labels, n)
        cd = None
        if cond is not None:
            d = self._model.config.cond_dim
            cd = _arrays.to_input(cond, "f", "cond")
            if d <= 0 or tuple(cd.shape) != (n, d):
                raise ValueError("cond: shape %s; expected (%d, %d) (the model's cond_dim)"
                                 % (tuple(cd.shape), n, d))
        mc = self._model.config
        cx, cl = _context_input(contexts, context_lengths, n, mc.ctx_dim, mc.ctx_len)
        cp = _prompts_input(captions, n, "captions")
        if cp is not None and cx is not None:
            raise ValueError("give captions or contexts, not both")
        loss = ctypes.c_double()
        with self._model._lock, self._use() as h:
            if cp is not None:
                st = LIB.simdiff_trainer_step_text(h, n, xin.ptr, lab.ptr if lab else None,
                                                   cd.ptr if cd is not None else None, cp,
                                                   ctypes.byref(loss))
            else:
                st = LIB.simdiff_trainer_step_ctx(h, n, xin.ptr, lab.ptr if lab else None,
                                                  cd.ptr if cd is not None else None,
                                                  cx.ptr if cx is not None else None,
                                                  cl.ptr if cl is not None else None,
                                                  ctypes.byref(loss))
        check(st)
        return loss.value

    @property
    def stats(self):
        """A :class:`TrainerStats`."""
        s = TrainerStatsStruct()
        s.struct_size = ctypes.sizeof(s)
        check(LIB.simdiff_trainer_stats_get(self._handle(), ctypes.byref(s)))
        return TrainerStats(s.step, s.skipped, s.last_loss, s.last_grad_norm, s.lr)

    def save(self, path):
        """Checkpoint everything (bit-exact resume), atomically."""
        with self._use() as h:
            check(LIB.simdiff_trainer_save(h, fspath(path)))

    def export(self, path, fp16=False):
        """Write the EMA weights (raw ones if EMA is off) as a model file."""
        if not isinstance(fp16, (bool, numbers.Integral)):
            raise TypeError("fp16 must be a bool")
        with self._use() as h:
            check(LIB.simdiff_trainer_export(h, fspath(path), 1 if fp16 else 0))

    def _repr_detail(self):
        return " step %d" % self.stats.step
