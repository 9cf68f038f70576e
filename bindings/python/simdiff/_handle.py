"""The base of every wrapper around a C handle: deterministic release.

Each wrapper owns one C handle and frees it exactly once: on close(), at the
end of a ``with`` block, when the wrapper is garbage collected, or at
interpreter exit (weakref.finalize). A handle that another handle needs (the
model of a sampler or trainer) is kept alive by its users' finalizers, and
closing it closes its users first, so the C rule "the model must outlive its
samplers and trainers" holds whatever order Python frees things in.
"""
import collections
import contextlib
import threading
import weakref

from ._errors import MisuseError, closed_error
from ._native import LIB

_live = collections.Counter()
_live_lock = threading.Lock()
# Guards _ptr / _busy of every handle (re-entrant: close() cascades).
_state_lock = threading.RLock()


def live_handles():
    """{kind: count} of C handles created by these bindings and not yet
    freed (a debugging aid: empty once everything is closed)."""
    with _live_lock:
        return {k: v for k, v in _live.items() if v}


def _release(destroy, ptr, kind, keep):
    destroy(ptr)
    with _live_lock:
        _live[kind] -= 1


class Handle:
    """Owns one C handle; see the module docstring."""
    _kind = "handle"
    _destroy_name = None  # C function that frees the handle

    _ptr = None

    def _adopt(self, ptr, owner=None, keep=(), borrowed=False):
        """Take ownership of ptr (or, borrowed, only refer to it while owner
        lives). owner: the Handle this one depends on (closed with it);
        keep: objects that must outlive the C handle."""
        self._ptr = ptr
        self._busy = 0
        self._dependents = weakref.WeakSet()
        if owner is not None:
            owner._dependents.add(self)
        if borrowed:
            # Not ours to free: only keep the owner alive while we are.
            self._owner = owner
            self._finalizer = weakref.finalize(self, _noop)
        else:
            with _live_lock:
                _live[self._kind] += 1
            destroy = getattr(LIB, self._destroy_name)
            self._finalizer = weakref.finalize(
                self, _release, destroy, ptr, self._kind, (owner, keep))

    def _handle(self):
        ptr = self._ptr
        if ptr is None:
            raise closed_error("this %s" % self._kind)
        return ptr

    @property
    def closed(self):
        """True once close() ran (the C handle is freed)."""
        return self._ptr is None

    def _check_idle(self):
        if getattr(self, "_busy", 0):
            raise MisuseError("cannot close this %s while it is running"
                              % self._kind)
        for d in list(getattr(self, "_dependents", ())):
            d._check_idle()

    def close(self):
        """Free the C handle now (and close every handle that depends on it,
        e.g. a model's samplers and trainers). Idempotent. MisuseError if the
        handle (or one that depends on it) is running a call."""
        with _state_lock:
            if self._ptr is None:
                return
            self._check_idle()
            for d in list(self._dependents):
                d.close()
            self._ptr = None
            self._finalizer()

    @contextlib.contextmanager
    def _use(self):
        """The pointer, marked busy for the duration (close() then refuses)."""
        with _state_lock:
            ptr = self._handle()
            self._busy += 1
        try:
            yield ptr
        finally:
            with _state_lock:
                self._busy -= 1

    def __enter__(self):
        self._handle()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        if self._ptr is None:
            return "<simdiff.%s (closed)>" % type(self).__name__
        return "<simdiff.%s%s>" % (type(self).__name__, self._repr_detail())

    def _repr_detail(self):
        return ""


def _noop(*_):
    pass
