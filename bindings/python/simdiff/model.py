"""Models (model.h): the U-Net and the U-ViT of simple diffusion."""
import ctypes
import numbers
import os
import threading

from . import _arrays
from ._config import ModelConfig
from ._errors import check
from ._handle import Handle
from ._native import LIB, DistillInfoStruct, ModelConfigStruct

__all__ = ["Model", "fspath"]


def fspath(path, what="path"):
    """bytes for a C path argument (str, bytes or os.PathLike)."""
    p = os.fsencode(os.fspath(path))
    if b"\0" in p:
        raise ValueError("%s: embedded null byte" % what)
    return p


def _labels_input(labels, n_expected, what="labels"):
    """labels (None, a sequence with None for 'no label', or an int array)
    as an int32 Input, checked against n_expected if given."""
    if labels is None:
        return None
    if isinstance(labels, (list, tuple)):
        labels = [-1 if v is None else v for v in labels]
    lab = _arrays.to_input(labels, "i", what)
    if len(lab.shape) > 1:
        raise ValueError("%s: expected a 1-d sequence, got shape %s" % (what, lab.shape))
    if n_expected is not None and lab.size != n_expected:
        raise ValueError("%s: %d values for %d examples" % (what, lab.size, n_expected))
    return lab


def _text_bytes(s, what):
    """A prompt or caption as the NUL-terminated UTF-8 the library reads."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    elif not isinstance(s, (bytes, bytearray)):
        raise TypeError("%s: expected str or bytes, got %r" % (what, s))
    if b"\0" in s:
        raise ValueError("%s: contains a NUL character" % what)
    return bytes(s)


def _prompts_input(prompts, n, what="prompts"):
    """n prompts (str or bytes each) as a ctypes char* array, or None."""
    if prompts is None:
        return None
    if isinstance(prompts, (str, bytes)):
        raise TypeError("%s: expected a list of %d strings, got one string" % (what, n))
    items = [_text_bytes(p, "%s[%d]" % (what, i)) for i, p in enumerate(prompts)]
    if len(items) != n:
        raise ValueError("%s: %d for %d images" % (what, len(items), n))
    return (ctypes.c_char_p * max(n, 1))(*items)


def build_vocab(captions, max_size=4096):
    """The vocabulary of ``captions`` (include/simdiff/text.h): the text
    form (one word per line) and its id count (2 special ids + the words,
    at most ``max_size``), for ``ModelConfig(text_vocab=...)`` and
    :meth:`Model.set_vocab`."""
    caps = list(captions)
    arr = (ctypes.c_char_p * max(len(caps), 1))(
        *[_text_bytes(c, "captions[%d]" % i) for i, c in enumerate(caps)])
    n, size = ctypes.c_size_t(), ctypes.c_int()
    check(LIB.simdiff_text_vocab_build(arr, len(caps), int(max_size), None, 0,
                                       ctypes.byref(n), ctypes.byref(size)))
    buf = ctypes.create_string_buffer(n.value + 1)
    check(LIB.simdiff_text_vocab_build(arr, len(caps), int(max_size), buf, n.value + 1,
                                       None, ctypes.byref(size)))
    return buf.value.decode("utf-8"), size.value


def _context_input(contexts, context_lengths, n, ctx_dim, ctx_len):
    """contexts (n x ctx_len x ctx_dim floats, or None: the null context)
    and context_lengths (n ints in 1..ctx_len, or None: all ctx_len) as
    (Input or None, Input or None). Lengths and values are checked by the
    library (SIMDIFF_ERR_INVALID_ARG naming the field)."""
    if contexts is None:
        if context_lengths is not None:
            raise ValueError("context_lengths given without contexts")
        return None, None
    if ctx_dim <= 0:
        raise ValueError("contexts: the model has no context input (ctx_dim 0)")
    cx = _arrays.to_input(contexts, "f", "contexts")
    if tuple(cx.shape) != (n, ctx_len, ctx_dim):
        raise ValueError("contexts: shape %s; expected (%d, %d, %d) (n, ctx_len, ctx_dim)"
                         % (tuple(cx.shape), n, ctx_len, ctx_dim))
    cl = None
    if context_lengths is not None:
        cl = _arrays.to_input(context_lengths, "i", "context_lengths")
        if tuple(cl.shape) != (n,):
            raise ValueError("context_lengths: shape %s; expected (%d,)"
                             % (tuple(cl.shape), n))
    return cx, cl


def _images_input(x, chw, what):
    """x as n x C x H x W floats: (Input, n, output shape)."""
    inp = _arrays.to_input(x, "f", what)
    per = chw[0] * chw[1] * chw[2]
    shape = inp.shape
    if len(shape) == 4 and tuple(shape[1:]) != tuple(chw):
        raise ValueError("%s: shape %s, expected (n, %d, %d, %d)" % ((what, shape) + tuple(chw)))
    if len(shape) == 3 and tuple(shape) == tuple(chw):
        n = 1
        out_shape = (1,) + tuple(chw)
    elif len(shape) in (0, 2, 3):
        raise ValueError("%s: shape %s; expected (n, %d, %d, %d) or a flat sequence"
                         % ((what, shape) + tuple(chw)))
    else:
        if inp.size % per:
            raise ValueError("%s: %d values is not a whole number of %dx%dx%d images"
                             % ((what, inp.size) + tuple(chw)))
        n = inp.size // per
        out_shape = (n,) + tuple(chw)
    if n > 2 ** 31 - 1:
        raise OverflowError("%s: too many images" % what)
    return inp, n, out_shape


class Model(Handle):
    """A U-Net or U-ViT. Make one with :meth:`create` or :meth:`load`.

    forward() on one model is serialized by a lock (the C model owns one
    compute context); samplers on several threads may share a model."""
    _kind = "Model"
    _destroy_name = "simdiff_model_destroy"

    def __init__(self, *args, **kwargs):
        raise TypeError("use Model.create(config or keywords, seed=...) or "
                        "Model.load(path)")

    @classmethod
    def _wrap(cls, ptr):
        self = cls.__new__(cls)
        self._adopt(ptr)
        self._lock = threading.Lock()
        self._precision = None
        cfg = self.config
        self._chw = (cfg.channels, cfg.image_size, cfg.image_size)
        self._num_classes = cfg.num_classes
        self._cond_dim = cfg.cond_dim
        self._ctx = (cfg.ctx_dim, cfg.ctx_len)
        return self

    @classmethod
    def create(cls, config=None, *, seed=0, **overrides):
        """A model with fresh weights (deterministic in seed).

        ``Model.create(arch="uvit", image_size=32, channels=1, tf_depth=4)``
        or ``Model.create(ModelConfig(...), seed=1)`` (keywords then override
        fields of a copy of the config)."""
        if config is None:
            config = ModelConfig(**overrides)
        elif isinstance(config, ModelConfig):
            config = config.copy().update(**overrides) if overrides else config
        else:
            raise TypeError("Model.create: config must be a ModelConfig or None, "
                            "got %r" % (config,))
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
                or not 0 <= seed < 2 ** 64:
            raise OverflowError("Model.create: seed must be an int in 0..2**64-1")
        out = ctypes.c_void_p()
        check(LIB.simdiff_model_create(ctypes.byref(out), config._struct_ref(), seed))
        return cls._wrap(out.value)

    @classmethod
    def load(cls, path):
        """Load a .safetensors model (or a libsimdiff checkpoint). A
        malformed file raises FormatError; a missing one IOFailure."""
        out = ctypes.c_void_p()
        check(LIB.simdiff_model_load(ctypes.byref(out), fspath(path)))
        return cls._wrap(out.value)

    def save_safetensors(self, path, *, f16=False):
        """Write the weights with config, schedule and stored sampler
        settings as metadata (atomic). ``f16=True`` stores the weights in
        half precision (half the file; NumericError, nothing written, if a
        weight does not fit)."""
        fn = LIB.simdiff_model_save_safetensors_f16 if f16 else \
            LIB.simdiff_model_save_safetensors
        with self._use() as h:
            check(fn(h, fspath(path)))

    def set_schedule(self, schedule):
        """Attach a copy of `schedule` (a Schedule or its text form, e.g.
        ``"shifted(32,64)"``) as the model's noise schedule; None removes
        it."""
        from .schedule import _coerce
        schedule, own = _coerce(schedule, "Model.set_schedule")
        try:
            with self._use() as h:
                check(LIB.simdiff_model_set_schedule(
                    h, schedule._handle() if schedule is not None else None))
        finally:
            if own is not None:
                own.close()

    @property
    def sampler_defaults(self):
        """The :class:`SamplerConfig` a ``Sampler(model)`` uses: the settings
        stored with the model, else the library defaults."""
        from ._config import SamplerConfig
        return SamplerConfig.for_model(self)

    def set_sampler_defaults(self, config=None, **fields):
        """Store sampler settings with the model (saved in its file), e.g.
        ``model.set_sampler_defaults(method="dpmpp2m", steps=16,
        guidance=3)``: the given fields over the library defaults.
        ``set_sampler_defaults(None)`` with no fields removes them."""
        from ._config import SamplerConfig
        if config is None and not fields:
            with self._use() as h:
                check(LIB.simdiff_sampler_set_model_defaults(h, None))
            return
        cfg = config.copy().update(**fields) if config is not None else \
            SamplerConfig(**fields)
        with self._use() as h:
            check(LIB.simdiff_sampler_set_model_defaults(h, ctypes.byref(cfg._c)))

    @property
    def config(self):
        """A copy of the model's :class:`ModelConfig`."""
        c = ModelConfigStruct()
        c.struct_size = ctypes.sizeof(c)
        check(LIB.simdiff_model_get_config(self._handle(), ctypes.byref(c)))
        return ModelConfig._from_struct(c)

    @property
    def num_params(self):
        """Number of trainable scalars."""
        return int(LIB.simdiff_model_num_params(self._handle()))

    @property
    def flops(self):
        """2 x multiply-adds of one forward pass, per image."""
        v = ctypes.c_double()
        check(LIB.simdiff_model_flops(self._handle(), ctypes.byref(v)))
        return v.value

    def fit_skip(self, images):
        """Measure the Wiener skip's statistics (a model made with
        wiener_skip=1) from n x C x H x W images in the range the model
        trains on; call it before a trainer takes the model."""
        xin, n, _ = _images_input(images, self._chw, "images")
        with self._lock, self._use() as h:
            check(LIB.simdiff_model_fit_skip(h, n, xin.ptr))

    def train_memory(self, n):
        """Bytes a training step at batch n needs (runs one step on zeros)."""
        v = ctypes.c_size_t()
        with self._lock, self._use() as h:
            check(LIB.simdiff_model_train_memory(h, int(n), ctypes.byref(v)))
        return v.value

    @property
    def image_shape(self):
        """(C, H, W) of one image."""
        self._handle()
        return self._chw

    def _text(self, fn):
        buf = ctypes.create_string_buffer(1024)
        n = ctypes.c_size_t()
        check(fn(self._handle(), buf, len(buf), ctypes.byref(n)))
        return buf.value.decode("utf-8", "replace")

    @property
    def schedule_text(self):
        """The stored schedule's text ("shifted(32,64)"; "" without one)."""
        return self._text(LIB.simdiff_model_schedule_text)

    @property
    def sampler_text(self):
        """The stored sampler settings as text ("method=dpmpp2m steps=16
        ..."; "" without any)."""
        return self._text(LIB.simdiff_model_sampler_text)

    @property
    def num_classes(self):
        """Class count (0: unconditional); label -1 is the null class."""
        self._handle()
        return self._num_classes

    @property
    def distill_info(self):
        """How the model was distilled (docs/distillation.md): None for a
        model that is not a distilled student, else a dict with ``steps``
        (the DDIM steps it samples in), ``teacher_steps`` (the first
        teacher's), ``rounds`` and ``guidance`` (folded in; sample the
        student at guidance 1)."""
        d = DistillInfoStruct()
        d.struct_size = ctypes.sizeof(d)
        check(LIB.simdiff_model_distill_info(self._handle(), ctypes.byref(d)))
        if not d.distilled:
            return None
        return {"steps": d.steps, "teacher_steps": d.teacher_steps, "rounds": d.rounds,
                "guidance": d.guidance}

    @property
    def cond_dim(self):
        """Width of the external conditioning vector (0: none)."""
        self._handle()
        return self._cond_dim

    @property
    def precision(self):
        """The :class:`Precision` of :meth:`forward` (default F32). Setting
        it to ``"bf16"`` raises UnsupportedError on a CPU without native
        bf16 (simdiff_model_set_precision); samplers and trainers take their
        own ``precision=`` keyword."""
        from ._config import Precision
        return self._precision if self._precision is not None else Precision.F32

    @precision.setter
    def precision(self, value):
        from ._config import Precision
        p = Precision.coerce(value, "Model.precision")
        with self._lock, self._use() as h:
            check(LIB.simdiff_model_set_precision(h, int(p)))
            self._precision = p

    # ---- the built-in text encoder (docs/text.md) ----
    def set_vocab(self, vocab):
        """Give a model with text_vocab > 0 its vocabulary: the text form of
        :func:`build_vocab` (one word per line), or a list of words."""
        if not isinstance(vocab, (str, bytes)):
            vocab = "".join("%s\n" % w for w in vocab)
        with self._lock, self._use() as h:
            check(LIB.simdiff_model_set_vocab(h, _text_bytes(vocab, "vocab")))

    @property
    def vocab(self):
        """The words of the vocabulary by id (0 "<pad>", 1 "<unk>", ...);
        [] for a model without an encoder, None for one whose vocabulary
        is not set."""
        with self._use() as h:
            size = LIB.simdiff_model_vocab_size(h)
            words = [LIB.simdiff_model_vocab_word(h, i) for i in range(size)]
        if size > 2 and words[2] is None:
            return None
        return [w.decode("utf-8") for w in words]

    def tokenize(self, prompt):
        """The token ids of prompt (at most ctx_len of them) and its word
        count before truncation: ``(ids, count)``."""
        cap = max(self._ctx[1], 0)
        ids = (ctypes.c_int * max(cap, 1))()
        count = ctypes.c_int()
        with self._use() as h:
            check(LIB.simdiff_model_tokenize(h, _text_bytes(prompt, "prompt"), ids, cap,
                                             ctypes.byref(count)))
        return list(ids[:min(cap, count.value)]), count.value

    def forward(self, z, logsnr, labels=None, cond=None, precision=None, *, contexts=None,
                context_lengths=None, prompts=None):
        """One network evaluation (inference: no dropout, no gradients).

        z: n x C x H x W noisy images (or a flat sequence of n·C·H·W);
        logsnr: one number for all, or n numbers; labels: None or n class
        ids (-1 or None: the null class); cond: None or n x cond_dim;
        precision: None (the model's :attr:`precision`) or "f32"/"bf16",
        which also becomes the model's precision; contexts: None (the
        learned null context) or n x ctx_len x ctx_dim token embeddings of
        a model with ctx_dim, context_lengths: None (all ctx_len) or n
        lengths in 1..ctx_len (docs/text.md); prompts: None or n strings for
        a model with the built-in text encoder ("" is the null context).
        Returns the prediction (v by default), shaped n x C x H x W."""
        if precision is not None:
            self.precision = precision
        zin, n, out_shape = _images_input(z, self._chw, "z")
        if isinstance(logsnr, numbers.Real) and not isinstance(logsnr, bool):
            ls = _arrays.to_input([float(logsnr)] * n, "d", "logsnr")
        else:
            ls = _arrays.to_input(logsnr, "d", "logsnr")
            if ls.size != n:
                raise ValueError("logsnr: %d values for %d images" % (ls.size, n))
        lab = _labels_input(labels, n)
        cin = None
        if cond is not None:
            cin = _arrays.to_input(cond, "f", "cond")
            if cin.size != n * self._cond_dim:
                raise ValueError("cond: %d values, expected n x cond_dim = %d x %d"
                                 % (cin.size, n, self._cond_dim))
        cx, cl = _context_input(contexts, context_lengths, n, *self._ctx)
        pr = _prompts_input(prompts, n)
        if pr is not None and cx is not None:
            raise ValueError("give prompts or contexts, not both")
        out, optr = _arrays.new_output("f", out_shape)
        with self._lock, self._use() as h:
            if pr is not None:
                st = LIB.simdiff_model_forward_text(h, n, zin.ptr, ls.ptr,
                                                    lab.ptr if lab else None,
                                                    cin.ptr if cin is not None else None,
                                                    pr, optr)
            elif cx is not None:
                st = LIB.simdiff_model_forward_ctx(h, n, zin.ptr, ls.ptr,
                                                   lab.ptr if lab else None,
                                                   cin.ptr if cin is not None else None,
                                                   cx.ptr, cl.ptr if cl is not None else None,
                                                   optr)
            elif cin is None:
                st = LIB.simdiff_model_forward(h, n, zin.ptr, ls.ptr,
                                               lab.ptr if lab else None, optr)
            else:
                st = LIB.simdiff_model_forward_cond(h, n, zin.ptr, ls.ptr,
                                                    lab.ptr if lab else None,
                                                    cin.ptr, optr)
        check(st)
        return out

    __call__ = forward

    def _repr_detail(self):
        c = self.config
        return " %s %dx%dx%d, %d params" % (c.arch.name.lower(), c.channels,
                                            c.image_size, c.image_size,
                                            self.num_params)
