#!/usr/bin/env python3
"""Count every test that ran in one or more meson build directories.

TAP tests count each `ok` / `not ok` line (a Check test case, a header, ...);
other tests count once. Prints per-build lines and a final summary line
`N passed, N failed[, N skipped]`. Exit status 1 if anything failed or if a
build directory has no test log (nothing ran). Standard library only.
"""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")


def count(logfile):
    passed = failed = skipped = 0
    failures = []
    with open(logfile, encoding="utf-8", errors="replace") as f:
        for line in f:
            rec = json.loads(line)
            name, result = rec.get("name", "?"), rec.get("result", "")
            subs = [TAP.match(l) for l in (rec.get("stdout") or "").splitlines()]
            subs = [m for m in subs if m]
            if subs:
                for m in subs:
                    if "# SKIP" in m.group(2).upper():
                        skipped += 1
                    elif m.group(1) == "ok":
                        passed += 1
                    else:
                        failed += 1
                        failures.append(f"{name}:{m.group(2).strip()}")
                # A TAP program that crashed after its last line still fails
                # (meson reports SKIP, not OK, when every line was a skip).
                if result not in ("OK", "EXPECTEDFAIL", "SKIP") and not any(
                        m.group(1) == "not ok" for m in subs):
                    failed += 1
                    failures.append(f"{name}: {result}")
            elif result == "SKIP":
                skipped += 1
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed += 1
                failures.append(f"{name}: {result}")
    return passed, failed, skipped, failures


def main(argv):
    tp = tf = ts = 0
    status = 0
    for d in argv[1:]:
        try:
            p, f, s, fl = count(f"{d}/meson-logs/testlog.json")
        except OSError as e:
            print(f"{d}: no test log ({e.strerror})")
            tf += 1
            status = 1
            continue
        print(f"{d}: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
        for x in fl:
            print(f"  FAILED {x}")
        tp, tf, ts = tp + p, tf + f, ts + s
    print(f"{tp} passed, {tf} failed" + (f", {ts} skipped" if ts else ""))
    return 1 if (tf or status) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
