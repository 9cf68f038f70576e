"""Library status codes as Python exceptions."""
import enum

from ._native import LIB, last_error


class Status(enum.IntEnum):
    """simdiff_status (core.h). Append-only; the numbers never change."""
    OK = 0
    INVALID_ARG = 1
    NOMEM = 2
    IO = 3
    FORMAT = 4
    UNSUPPORTED = 5
    CANCELLED = 6
    BACKEND = 7
    MISUSE = 8
    NUMERIC = 9
    INTERNAL = 10

    def describe(self):
        """The library's static English description ("invalid argument", ...)."""
        return status_str(self)


def status_str(status):
    """simdiff_status_str(): the library's description of any status number."""
    return LIB.simdiff_status_str(int(status)).decode("utf-8", "replace")


class Error(Exception):
    """A libsimdiff call failed.

    ``status`` is the :class:`Status` (an ``int`` for a code newer than these
    bindings) and ``message`` the library's detail (simdiff_last_error())."""
    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message

    def __str__(self):
        return self.message

    def __reduce__(self):
        if type(self) is Error:
            return (Error, (self.message, self.status))
        return (type(self), (self.message,))


class InvalidArgumentError(Error, ValueError):
    """SIMDIFF_ERR_INVALID_ARG: a bad size, value or pointer."""
    status = Status.INVALID_ARG


class OutOfMemoryError(Error, MemoryError):
    """SIMDIFF_ERR_NOMEM: an allocation failed."""
    status = Status.NOMEM


class IOFailure(Error, OSError):
    """SIMDIFF_ERR_IO: open/read/write/rename failed (an ``OSError``)."""
    status = Status.IO


class FormatError(Error, ValueError):
    """SIMDIFF_ERR_FORMAT: a file or buffer is malformed."""
    status = Status.FORMAT


class UnsupportedError(Error):
    """SIMDIFF_ERR_UNSUPPORTED: valid, but not supported by this build."""
    status = Status.UNSUPPORTED


class CancelledError(Error):
    """SIMDIFF_ERR_CANCELLED: stopped by cancel() or by the progress callback."""
    status = Status.CANCELLED


class BackendError(Error, RuntimeError):
    """SIMDIFF_ERR_BACKEND: oneDNN reported a failure."""
    status = Status.BACKEND


class MisuseError(Error, RuntimeError):
    """SIMDIFF_ERR_MISUSE: a call in the wrong state or order (also raised by
    the bindings for a closed handle or a handle used while it runs)."""
    status = Status.MISUSE


class NumericError(Error, ArithmeticError):
    """SIMDIFF_ERR_NUMERIC: a NaN or Inf where a finite value is due."""
    status = Status.NUMERIC


class InternalError(Error, RuntimeError):
    """SIMDIFF_ERR_INTERNAL: a bug in libsimdiff; please report it."""
    status = Status.INTERNAL


_BY_STATUS = {c.status: c for c in (
    InvalidArgumentError, OutOfMemoryError, IOFailure, FormatError,
    UnsupportedError, CancelledError, BackendError, MisuseError, NumericError,
    InternalError)}


def error_for(status, message=None):
    """The exception for a nonzero status (message: simdiff_last_error())."""
    if message is None or message == "":
        message = last_error() or status_str(status)
    cls = _BY_STATUS.get(status)
    if cls is None:
        return Error(message, status)
    return cls(message)


def check(status):
    """Raise the matching Error subclass unless status is SIMDIFF_OK."""
    if status != 0:
        raise error_for(status)


def closed_error(what):
    return MisuseError("%s is closed" % what)
