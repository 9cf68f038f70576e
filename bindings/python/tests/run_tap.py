#!/usr/bin/env python3
"""Run the binding tests (unittest) and report them as TAP, one line per
test: ``ok N - test_module.Class.test_name`` / ``not ok N - ...`` (skips as
``ok N - ... # SKIP reason``), diagnostics as ``#`` lines, the plan last.

    python3 bindings/python/tests/run_tap.py [-k PATTERN] [-v]

Plain ``python3 -m unittest discover -s bindings/python/tests`` runs the
same tests. Exit status 0 when every test passed.
"""
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class TapResult(unittest.TestResult):
    def __init__(self, stream, verbose=False):
        super().__init__()
        self.stream = stream
        self.verbose = verbose
        self.n = 0
        self._t0 = 0.0

    def _line(self, text):
        self.stream.write(text + "\n")
        self.stream.flush()

    def _diag(self, text):
        for line in text.rstrip("\n").splitlines():
            self._line("# " + line)

    @staticmethod
    def _name(test):
        return test.id().replace("\n", " ")

    def startTest(self, test):
        super().startTest(test)
        self._t0 = time.monotonic()

    def _ok(self, test, extra=""):
        self.n += 1
        dt = time.monotonic() - self._t0
        self._line("ok %d - %s%s" % (self.n, self._name(test), extra))
        if self.verbose:
            self._diag("%.2fs" % dt)

    def _not_ok(self, test, err_text, what):
        self.n += 1
        self._line("not ok %d - %s" % (self.n, self._name(test)))
        self._diag("%s:\n%s" % (what, err_text))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._ok(test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._not_ok(test, self.failures[-1][1], "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._not_ok(test, self.errors[-1][1], "ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._ok(test, " # SKIP %s" % reason.replace("\n", " "))

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._ok(test, " # TODO expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._not_ok(test, "passed but was expected to fail", "UNEXPECTED SUCCESS")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            # Recorded in failures/errors; reported as its own line.
            lst = self.failures if issubclass(err[0], test.failureException) else self.errors
            self._not_ok(subtest, lst[-1][1], "SUBTEST FAIL")


def _filter(suite, pattern):
    out = unittest.TestSuite()
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            out.addTests(_filter(t, pattern))
        elif pattern in t.id():
            out.addTest(t)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", dest="pattern", help="run only tests whose id contains this")
    ap.add_argument("-v", action="store_true", help="time every test")
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    if args.pattern:
        suite = _filter(suite, args.pattern)
    try:
        import simdiff
        print("# simdiff %s from %s; library %s (%s); numpy %s" % (
            simdiff.__version__, os.path.dirname(simdiff.__file__), simdiff.library_path,
            simdiff.version(), "yes" if simdiff.HAVE_NUMPY else "no"))
        print("# python %s (%s)" % (sys.version.split()[0], sys.executable))
    except ImportError as e:  # reported again by every test that imports it
        print("# import simdiff failed: %s" % str(e).replace("\n", " "))
    result = TapResult(sys.stdout, verbose=args.v)
    t0 = time.monotonic()
    suite.run(result)
    print("1..%d" % result.n)
    print("# %d tests, %d failures, %d errors, %d skipped in %.1fs" % (
        result.testsRun, len(result.failures), len(result.errors), len(result.skipped),
        time.monotonic() - t0))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
