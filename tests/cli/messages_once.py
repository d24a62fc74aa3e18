#!/usr/bin/env python3
"""Messages that every rank reaches are printed once, not once per rank.

- A token id outside the vocabulary in a training row: one error line (every rank of a
  replica reads the same row) and a non-zero exit on every rank.
- A step whose loss is NaN/Inf: one warning per skipped step (the losses are agreed on every
  rank), counted against the number of skipped steps the run itself reports.
"""
import argparse
import re
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--ranks", type=int, default=4)
parser.add_argument("--inputs", required=True, help="the repository's inputs/ folder")
args = parser.parse_args()

TINY = str(Path(args.inputs) / "tiny.toml")
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-messages-once-"))
launcher = Launcher(args)
tally = Tally()

# A dataset whose training rows hold a token past the vocabulary.
bad = tmp / "bad_tokens.h5"
shutil.copy(Path(args.inputs) / "data" / "demo_lm.h5", bad)
with h5py.File(bad, "r+") as f:
    vocab, seq_len = int(f.attrs["vocab"]), int(f.attrs["seq_len"])
    tokens = f["train/tokens"]
    tokens[...] = np.full(tokens.shape, vocab + 7, dtype=np.int32)
run = launcher.launch(args.ranks, ["train", TINY, f"data.path={bad}", "model.vocab=512",
                                   "model.max_positions=64", f"data.seq_len={seq_len}",
                                   "data.batch=2", "io.run_log=false", f"io.out_dir={tmp / 'bad'}"])
problems = []
if run.proc is None:
    problems.append("hung")
elif len(run.exits) != args.ranks or any(e == 0 for e in run.exits):
    problems.append(f"rank exits {run.exits}, expected {args.ranks} non-zero")
if len(run.errors) != 1:
    problems.append(f"{len(run.errors)} error lines, expected 1: {run.other}")
elif f"token {vocab + 7} outside" not in run.errors[0]:
    problems.append(f"error line does not name the token: {run.errors[0]}")
tally.check(f"token outside the vocabulary: one error line ({run.errors[:1]})", not problems, problems)

# lr = 1e30 sends the weights to Inf after the first step: every later step is skipped.
run = launcher.launch(args.ranks, ["train", TINY, "optim.lr=1e30", "run.steps=4",
                                   "run.max_bad_steps=10", "io.run_log=false",
                                   f"io.out_dir={tmp / 'nan'}"])
warnings = [l for l in run.other if "non-finite loss" in l and "warning" in l]
m = re.search(r"(\d+) of 4 steps skipped", run.proc.stdout if run.proc else "")
skipped = int(m.group(1)) if m else -1
problems = []
if skipped <= 0:
    problems.append(f"expected skipped steps, stdout: {run.proc.stdout if run.proc else ''}"
                    f" stderr: {run.other}")
if len(warnings) != skipped:
    problems.append(f"{len(warnings)} warnings for {skipped} skipped steps: {warnings}")
tally.check(f"non-finite loss: one warning per skipped step ({len(warnings)} for {skipped})",
            not problems, problems)

shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
