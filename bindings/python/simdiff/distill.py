"""Progressive distillation (distill.h): a guided teacher's two DDIM steps
become the student's one, round after round (docs/distillation.md)."""
import collections
import ctypes
import numbers

from ._config import DistillConfig, OptimizerConfig
from ._errors import check
from ._native import LIB, DistillStatsStruct
from .model import _images_input, _labels_input, fspath
from .train import _config, _model_arg, _Trains

__all__ = ["Distiller", "DistillStats"]

DistillStats = collections.namedtuple(
    "DistillStats",
    "round teacher_steps student_steps guidance step skipped total_steps last_loss lr")
DistillStats.__doc__ = """simdiff_distill_stats: the round (0, 1, ...), the
teacher's steps N of this round and the student's N/2, the guidance folded
in, the steps of this round (applied + skipped), the skipped ones, the steps
of all rounds, the last loss and the learning rate of the next update."""


class Distiller(_Trains):
    """Progressive distillation of `teacher` into `student`.

    ``Distiller(teacher, student, teacher_steps=16, guidance=3,
    optimizer=dict(lr=1e-4))``: teacher is read and copied (never
    written); student is normally a second copy of the teacher (the same
    file loaded twice) and is trained in place; keywords set
    :class:`DistillConfig` fields; optimizer is an OptimizerConfig, a dict
    of its fields or None. :meth:`step` trains, :meth:`next_round` halves
    the steps, :meth:`export` writes the student with its sampler settings
    (DDIM, N/2 steps, guidance 1) stored."""
    _kind = "Distiller"
    _destroy_name = "simdiff_distiller_destroy"
    _noun = "distiller"

    def __init__(self, teacher, student, config=None, *, optimizer=None, **overrides):
        teacher = _model_arg(teacher, "Distiller teacher")
        student = _model_arg(student, "Distiller student")
        dcfg = _config(DistillConfig, config, overrides, "Distiller")
        ocfg = _config(OptimizerConfig, optimizer, {}, "Distiller optimizer")
        out = ctypes.c_void_p()
        with teacher._lock:
            check(LIB.simdiff_distiller_create(ctypes.byref(out), teacher._handle(),
                                               student._handle(), dcfg._struct_ref(),
                                               ocfg._struct_ref()))
        self._init(out.value, student)

    @classmethod
    def load(cls, path):
        """Resume from a checkpoint written by :meth:`save`: the distiller
        and its student (``distiller.model``) exactly as they were."""
        return cls._load(path)

    def step(self, x, labels=None):
        """One distillation step on x (n x C x H x W in [-1, 1]) with labels
        (n class ids, or None: the null class). Returns the loss (NaN when
        the update was skipped as non-finite)."""
        xin, n, _ = _images_input(x, self._model.image_shape, "x")
        lab = _labels_input(labels, n)
        loss = ctypes.c_double()
        with self._model._lock, self._use() as h:
            st = LIB.simdiff_distiller_step(h, n, xin.ptr, lab.ptr if lab else None,
                                            ctypes.byref(loss))
        check(st)
        return loss.value

    def next_round(self):
        """The student (its EMA weights) becomes the teacher and the new
        student, the steps halve, the optimizer starts afresh."""
        with self._model._lock, self._use() as h:
            check(LIB.simdiff_distiller_next_round(h))

    @property
    def stats(self):
        """A :class:`DistillStats`."""
        s = DistillStatsStruct()
        s.struct_size = ctypes.sizeof(s)
        check(LIB.simdiff_distiller_stats_get(self._handle(), ctypes.byref(s)))
        return DistillStats(s.round, s.teacher_steps, s.student_steps, s.guidance, s.step,
                            s.skipped, s.total_steps, s.last_loss, s.lr)

    def save(self, path):
        """Checkpoint everything, the current teacher included (bit-exact
        resume), atomically."""
        with self._use() as h:
            check(LIB.simdiff_distiller_save(h, fspath(path)))

    def export(self, path, fp16=False):
        """Write the student's EMA weights (raw if EMA is off) as a model
        file whose stored sampler settings are DDIM, N/2 steps, guidance 1."""
        if not isinstance(fp16, (bool, numbers.Integral)):
            raise TypeError("fp16 must be a bool")
        with self._use() as h:
            check(LIB.simdiff_distiller_export(h, fspath(path), 1 if fp16 else 0))

    def _repr_detail(self):
        st = self.stats
        return " round %d (%d -> %d steps) step %d" % (st.round, st.teacher_steps,
                                                      st.student_steps, st.step)
