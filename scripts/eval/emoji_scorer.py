"""Score emoji samples with the repository's evaluator and, when given, an
external one, for scripts that score many sample files in one process
(scripts/text-score.py, scripts/highres-table.py). The reference features
of the data set are computed once. numpy only.

    s = Scorer(DATA_DIR, external="/path/emoji_score.py" or None)
    s.numbers("samples.npy", "labels.npy")  # {'fid', 'class_accuracy'[, 'fid_2', 'class_accuracy_2']}
    s("samples.npy", "labels.npy")          # the same as one line of text

DATA_DIR holds emoji64.npy and emoji64-labels.npy (emoji_dataset.py DATA
--size 64). The external scorer runs as `/usr/bin/python3 SCORER SAMPLES
LABELS` and must print `fid: X` and `class_accuracy: Y` (a colon or not).
"""
import re
import subprocess

import numpy as np

import emoji_eval


class Scorer:
    def __init__(self, data_dir, external=None, python="/usr/bin/python3"):
        self.w, _ = emoji_eval.load_weights()
        self.ref = emoji_eval.reference_features(self.w, data_dir)
        self.external = external
        self.python = python

    def numbers(self, samples, labels, with_fid=True):
        """dict of the repository's fid and class_accuracy and, with an
        external scorer, its fid_2 and class_accuracy_2 (no fid keys when
        with_fid is false: a handful of images of one group)."""
        r = emoji_eval.evaluate(np.load(samples), np.load(labels), ref_features=self.ref,
                                weights=self.w)
        out = {"fid": float(r["fid"])} if with_fid else {}
        out["class_accuracy"] = float(r["class_accuracy"])
        if self.external:
            p = subprocess.run([self.python, self.external, samples, labels],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            fid = re.search(r"^fid:?\s*([-0-9.eE+naif]+)", p.stdout, re.M)
            acc = re.search(r"^class_accuracy:?\s*([-0-9.eE+]+)", p.stdout, re.M)
            if p.returncode != 0 or not fid or not acc:
                raise RuntimeError(f"{self.external} failed ({p.returncode}) or printed no "
                                   f"fid / class_accuracy:\n{p.stdout}")
            if with_fid:
                out["fid_2"] = float(fid.group(1))
            out["class_accuracy_2"] = float(acc.group(1))
        return out

    def __call__(self, samples, labels, with_fid=True):
        """'fid F class_accuracy A' (repository), plus ' | external ...'."""
        r = self.numbers(samples, labels, with_fid)
        text = f"fid {r['fid']:.2f} " if with_fid else ""
        text += f"class_accuracy {r['class_accuracy']:.4f}"
        if self.external:
            text += " | external " + (f"fid {r['fid_2']:.2f} " if with_fid else "")
            text += f"class_accuracy {r['class_accuracy_2']:.4f}"
        return text
