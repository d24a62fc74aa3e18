#!/usr/bin/env python3
"""`zoptimus data --task classification --label-words "A|B"` on the byte path (issue 14.3):
the label words are given as text, one single character per label (a bytes-v1 token is one
byte). Checked against Python's own byte values (the dataset's /label_words equals
[ord(A), ord(B)]) and against the default dataset (rows, labels and last_pos identical: only
the label words differ). Words longer than one byte (" great", a two-byte UTF-8 character),
repeated words, a count that differs from --labels and --label-words on an LM dataset are
refused with one message and a non-zero exit on every rank, and no file is written."""
import argparse
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--ranks", type=int, default=2)
args = parser.parse_args()
launcher = Launcher(args)
tally = Tally()
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-label-words-"))
tsv = tmp / "reviews.tsv"
tsv.write_text("a fine film\tpositive\nslow and dull\tnegative\nlovely\tpositive\n"
               "not good at all\tnegative\n")
text = tmp / "corpus.txt"
text.write_text("some text for a language model\n")
BASE = ["data", "--task", "classification", "--labels", "negative,positive", "--seq-len", "16",
        "--validation-fraction", "0.5"]


def build(out, *extra):
    run = launcher.launch(args.ranks, [*BASE, *extra, "--out", str(out), str(tsv)])
    return run


default, words = tmp / "default.h5", tmp / "words.h5"
r0 = build(default)
r1 = build(words, "--label-words", "-|+")
tally.check(f"both datasets built, exit 0 on every rank: {r0.exits} {r1.exits}",
            r0.exits == [0] * args.ranks and r1.exits == [0] * args.ranks, r0.other + r1.other)
if not (default.exists() and words.exists()):
    tally.finish()
with h5py.File(default, "r") as a, h5py.File(words, "r") as b:
    tally.check(f"/label_words = [ord('-'), ord('+')] = {[ord('-'), ord('+')]}: "
                f"{b['label_words'][...].tolist()}",
                b["label_words"][...].tolist() == [ord("-"), ord("+")])
    tally.check("default label words are the initials 'n', 'p': "
                f"{a['label_words'][...].tolist()}",
                a["label_words"][...].tolist() == [ord("n"), ord("p")])
    same = all(np.array_equal(a[f"{s}/{k}"][...], b[f"{s}/{k}"][...])
               for s in ("train", "validation") for k in ("tokens", "labels", "last_pos"))
    tally.check("rows, labels and last_pos identical to the default dataset", same)

CASES = [
    ("a word of several bytes", ["--label-words", " terrible| great"], "is 9 bytes"),
    ("a two-byte UTF-8 character", ["--label-words", "\u00e9|x"], "is 2 bytes"),
    ("the same word twice", ["--label-words", "x|x"], "appears twice"),
    ("three words for two labels", ["--label-words", "a|b|c"], "gives 3 words for 2 labels"),
]
for name, extra, fragment in CASES:
    bad = tmp / "bad.h5"
    run = build(bad, *extra)
    errors = run.errors
    tally.check(f"{name}: one error containing '{fragment}', exit 1 on every rank, no file: "
                f"{errors}", run.exits == [1] * args.ranks and len(errors) == 1
                and fragment in errors[0] and not bad.exists())
run = launcher.launch(args.ranks, ["data", "--label-words", "a|b", "--out", str(tmp / "lm.h5"),
                                   str(text)])
tally.check(f"--label-words on an LM dataset is refused: {run.errors}",
            run.exits == [1] * args.ranks and len(run.errors) == 1
            and "only for --task classification" in run.errors[0])
shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
