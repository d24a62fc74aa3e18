#!/usr/bin/env python3
"""A divergence that stays finite is caught, and a missing data.path says how it was resolved.

- The demo deck on the classification dataset (lr 3e-3) explodes while staying finite (a
  loss of ~1e4 by step 500, ~1e15 by 1000). Control: run.divergence_factor = 0 (off) reproduces that (exit 0, a final
  training loss more than 100x the first), so the case is real. With the default factor: one
  error line naming optim.lr and optim.eps, non-zero exit on every rank, and no checkpoint at
  or after the step the message names (the exploded state is never the latest checkpoint).
- data.path missing: given on the command line, the message names the current directory;
  written in a deck, it names the deck.
"""
import argparse
import re
import shutil
import tempfile
from pathlib import Path

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--ranks", type=int, default=4)
parser.add_argument("--inputs", required=True, help="the repository's inputs/ folder")
args = parser.parse_args()

inputs = Path(args.inputs).resolve()
DEMO = str(inputs / "demo.toml")
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-divergence-"))
launcher = Launcher(args)
tally = Tally()

cls = [f"data.path={inputs / 'data' / 'demo_cls.h5'}", "data.task=classification",
       "run.steps=500", "run.eval_every=0", "run.log_every=50", "io.run_log=false"]

# Control: detection off, the loss explodes and the run reports success.
run = launcher.launch(args.ranks, ["train", DEMO, *cls, "run.divergence_factor=0",
                                   f"io.out_dir={tmp / 'off'}"], timeout=240)
out = run.proc.stdout if run.proc else ""
m = re.search(r"train: steps=\d+ loss=([-\d.e+naif]+)->([-\d.e+naif]+)", out)
first, last = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)
tally.check(f"control (factor 0): exit 0 and loss {first:g} -> {last:g} (> 100x)",
            run.exits == [0] * args.ranks and m and last > 100 * max(first, 1.0),
            [run.exits, run.other, out[-2000:]])

# Detection on (default factor), a checkpoint every 5 steps.
out_dir = tmp / "on"
run = launcher.launch(args.ranks, ["train", DEMO, *cls, "io.checkpoint_every=5",
                                   f"io.out_dir={out_dir}"], timeout=240)
problems = []
if run.proc is None:
    problems.append("hung")
elif len(run.exits) != args.ranks or any(e == 0 for e in run.exits):
    problems.append(f"rank exits {run.exits}, expected {args.ranks} non-zero")
if len(run.errors) != 1:
    problems.append(f"{len(run.errors)} error lines, expected 1: {run.other}")
else:
    e = run.errors[0]
    if "optim.lr" not in e or "optim.eps" not in e or "diverged" not in e:
        problems.append(f"message does not name optim.lr / optim.eps: {e}")
    m = re.search(r"step (\d+): the loss diverged", e)
    if not m:
        problems.append(f"message does not name the step: {e}")
    else:
        step = int(m.group(1))
        steps = sorted(int(p.stem.split("_")[1]) for p in out_dir.glob("ckpt_*.h5"))
        if steps and steps[-1] >= step:
            problems.append(f"checkpoint of step {steps[-1]} written at or after the "
                            f"divergence at step {step}")
tally.check(f"exploding loss stops the run with one message ({run.errors[:1]})", not problems,
            problems)

# A missing data.path: command line (current directory) vs deck (the deck's folder).
run = launcher.launch(1, ["train", DEMO, "data.path=no_such_data.h5", "io.run_log=false",
                          f"io.out_dir={tmp / 'missing'}"])
e = run.errors[0] if len(run.errors) == 1 else ""
tally.check(f"missing data.path on the command line names the current directory ({e})",
            "no_such_data.h5" in e and "current directory" in e and run.exits == [1], [run.other])
deck = tmp / "deck.toml"
deck.write_text((inputs / "tiny.toml").read_text().replace("[data]", '[data]\npath = "gone.h5"'))
run = launcher.launch(1, ["train", str(deck), "io.run_log=false", f"io.out_dir={tmp / 'm2'}"])
e = run.errors[0] if len(run.errors) == 1 else ""
tally.check(f"missing data.path in a deck names the deck's folder ({e})",
            str(tmp / "gone.h5") in e and "deck's folder" in e and run.exits == [1], [run.other])

shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
