#!/usr/bin/python3
"""Score a text-conditioned emoji model (docs/text.md, "The emoji demo").

    scripts/text-score.py MODEL DATA_DIR OUT_DIR [--scorer SCORER] [options]

MODEL: a model trained by scripts/text-demo.sh (the built-in text encoder,
64x64 RGB). DATA_DIR: emoji64.npy, emoji64-labels.npy and
emoji64-names.txt from the emoji data set tool (emoji_dataset.py). Every
score comes from the repository's emoji scorer (scripts/eval/emoji_eval.py,
docs/evaluation.md); with --scorer SCORER also from an external program run
as `/usr/bin/python3 SCORER SAMPLES.npy LABELS.npy` that prints `fid: X`
and `class_accuracy: Y` (emoji_score.py of the shared tools). Two measurements, both
drawn by build/examples/simdiff-sample:

1. FID and class accuracy at N (--n, default 2000): the prompts are the
   captions of N data rows drawn without replacement (seed 0), so the groups
   come in the data set's proportions as the scorer's reference needs; the
   labels are those rows' groups (the group each caption implies).
2. Class accuracy per prompt (--per-prompt images each, default 50) for the
   issue's prompts and for seen captions, each against the group of the
   emoji whose name it is ("face with sunglasses": the group of "smiling
   face with sunglasses"), and as many unconditional images (prompt "")
   judged against the same groups as the control.

Options: --steps (16), --guidance (3), --sampler (dpmpp2m), --seed (1),
--threads, --precision (bf16), --sample PATH (default
build/examples/simdiff-sample beside this script's repository). Writes the
samples, prompts and labels to OUT_DIR and a summary to OUT_DIR/scores.txt.
Needs numpy.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (prompt, name of the emoji whose group it implies)
PROMPTS = [
    ("red heart", "red heart"),
    ("blue heart", "blue heart"),
    ("cat face", "cat face"),
    ("dog face", "dog face"),
    ("face with sunglasses", "smiling face with sunglasses"),
    ("grinning face", "grinning face"),
    ("pile of poo", "pile of poo"),
    ("thumbs up", "thumbs up"),
    ("rocket", "rocket"),
    ("flag: Japan", "flag: Japan"),
    ("ghost", "ghost"),
]


def read_names(path):
    """(caption, group) per data row: the emoji names file's last field and
    its second one (codepoints, group, subgroup, name)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4 or not parts[1].isdigit():
                sys.exit(f"text-score: {path}:{i + 1}: not codepoints<TAB>group<TAB>subgroup<TAB>name")
            rows.append((parts[-1], int(parts[1])))
    return rows


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"text-score: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}")
    return r.stdout


def sample(a, prompts, count, npy):
    """count images; prompts: a file of prompts, or [one prompt] for all."""
    src = ["--prompt", prompts[0]] if isinstance(prompts, list) else ["--prompts", prompts]
    cmd = [a.sample, a.model] + src + ["--count", str(count),
           "--seed", str(a.seed), "--sampler", a.sampler, "--steps", str(a.steps),
           "--guidance", str(a.guidance), "--precision", a.precision, "--batch", "100",
           "--npy", npy, "--quiet"]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    run(cmd)


def write_prompts(path, prompts):
    for p in prompts:
        if "\n" in p:
            sys.exit(f"text-score: a prompt with a line break: {p!r}")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(p + "\n" for p in prompts))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("data_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--scorer", default=None)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--per-prompt", type=int, default=50)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--sampler", default="dpmpp2m")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--precision", default="bf16", choices=["f32", "bf16"])
    ap.add_argument("--sample", default=os.path.join(ROOT, "build", "examples", "simdiff-sample"))
    a = ap.parse_args()

    rows = read_names(os.path.join(a.data_dir, "emoji64-names.txt"))
    labels = np.load(os.path.join(a.data_dir, "emoji64-labels.npy"))
    if len(labels) != len(rows) or any(int(labels[i]) != g for i, (_, g) in enumerate(rows)):
        sys.exit("text-score: emoji64-labels.npy does not match the groups of emoji64-names.txt")
    if a.per_prompt < 2:
        sys.exit("text-score: --per-prompt must be at least 2")
    if not 2 <= a.n <= len(rows):
        sys.exit(f"text-score: --n must be in 2..{len(rows)}")
    group_of = {}
    for name, g in rows:
        group_of.setdefault(name, g)
    os.makedirs(a.out_dir, exist_ok=True)
    o = lambda f: os.path.join(a.out_dir, f)
    lines = [f"model {a.model}; {a.sampler} {a.steps} steps, guidance {a.guidance:g}, "
             f"seed {a.seed}, precision {a.precision}"]

    pick = np.random.default_rng(0).choice(len(rows), a.n, replace=False)
    write_prompts(o("fid-prompts.txt"), [rows[i][0] for i in pick])
    np.save(o("fid-labels.npy"), np.array([rows[i][1] for i in pick], dtype=np.float32))
    sample(a, o("fid-prompts.txt"), a.n, o("fid-samples.npy"))
    sys.path.insert(0, os.path.join(ROOT, "scripts", "eval"))
    from emoji_scorer import Scorer
    score = Scorer(a.data_dir, a.scorer)
    lines.append(f"N {a.n} captions of random data rows: "
                 f"{score(o('fid-samples.npy'), o('fid-labels.npy'))}")

    k = a.per_prompt
    prompts = [p for p, _ in PROMPTS for _ in range(k)]
    want = [group_of[n] for _, n in PROMPTS for _ in range(k)]
    write_prompts(o("prompt-prompts.txt"), prompts)
    np.save(o("prompt-labels.npy"), np.array(want, dtype=np.float32))
    sample(a, o("prompt-prompts.txt"), len(prompts), o("prompt-samples.npy"))
    x = np.load(o("prompt-samples.npy"))
    lines.append(f"{len(PROMPTS)} prompts x {k}, overall: "
                 f"{score(o('prompt-samples.npy'), o('prompt-labels.npy'))}")
    for j, (p, n) in enumerate(PROMPTS):
        np.save(o("one.npy"), x[j * k:(j + 1) * k])
        np.save(o("one-labels.npy"), np.full(k, group_of[n], dtype=np.float32))
        lines.append(f"  {p!r} (group {group_of[n]}): {score(o('one.npy'), o('one-labels.npy'), False)}")
    # The control: as many unconditional images (the null prompt ""),
    # judged against the same groups: what the prompts add.
    sample(a, [""], len(prompts), o("null-samples.npy"))
    lines.append(f"control: {len(prompts)} unconditional images (prompt \"\") against the same "
                 f"groups: {score(o('null-samples.npy'), o('prompt-labels.npy'))}")
    for f in ("one.npy", "one-labels.npy"):
        os.remove(o(f))
    text = "\n".join(lines) + "\n"
    with open(o("scores.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
