#!/usr/bin/env python3
"""Evaluation batches are read collectively: a bad row in the validation split that only one
replica reads is one agreed error (one message, non-zero exit on every rank, no MPI_ABORT,
no hang), and a clean copy of the same file evaluates normally (the control)."""
import argparse
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
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-eval-agreed-"))
launcher = Launcher(args)
tally = Tally()

good = tmp / "good.h5"
bad = tmp / "bad_validation.h5"
shutil.copy(Path(args.inputs) / "data" / "demo_lm.h5", good)
shutil.copy(good, bad)
with h5py.File(bad, "r+") as f:
    vocab, seq_len = int(f.attrs["vocab"]), int(f.attrs["seq_len"])
    rows = f["validation/tokens"].shape[0]
    # dp = ranks, batch 2: replica r reads rows 2r, 2r+1 of the first eval batch; row 3 is
    # read by replica 1 only. The training split stays clean.
    row = f["validation/tokens"][3]
    row[5] = vocab + 7
    f["validation/tokens"][3] = row
    assert np.all(f["train/tokens"][...] < vocab)

common = [f"parallel.dp={args.ranks}", "model.vocab=512", "model.max_positions=64",
          f"data.seq_len={seq_len}", "data.batch=2"]

control = launcher.launch(args.ranks, ["eval", TINY, f"data.path={good}", *common])
ok = control.proc is not None and control.exits == [0] * args.ranks
tally.check("control: the clean file evaluates on every rank", ok,
            [control.other, control.proc.stdout if control.proc else "hung"])

run = launcher.launch(args.ranks, ["eval", TINY, f"data.path={bad}", *common], timeout=60)
problems = []
if run.proc is None:
    problems.append("hung (60 s)")
elif len(run.exits) != args.ranks or any(e == 0 for e in run.exits):
    problems.append(f"rank exits {run.exits}, expected {args.ranks} non-zero")
if len(run.errors) != 1:
    problems.append(f"{len(run.errors)} error lines, expected 1: {run.other}")
elif f"token {vocab + 7} outside" not in run.errors[0]:
    problems.append(f"error line does not name the token: {run.errors[0]}")
if any("MPI_ABORT" in l for l in run.other):
    problems.append("the job was aborted instead of agreeing on the error")
tally.check(f"bad validation row read by one replica: one agreed error ({run.errors[:1]})",
            not problems, problems)

# Training: the evaluation before the first step hits the same row.
run = launcher.launch(args.ranks, ["train", TINY, f"data.path={bad}", *common, "run.steps=2",
                                   "io.run_log=false", f"io.out_dir={tmp / 'out'}"], timeout=60)
ok = (run.proc is not None and len(run.exits) == args.ranks and all(e != 0 for e in run.exits)
      and len(run.errors) == 1)
tally.check("train with the bad validation row: one error, non-zero everywhere", ok,
            [run.exits, run.other])

shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
