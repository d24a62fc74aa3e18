#!/usr/bin/env python3
"""`zoptimus eval DECK io.restart=CKPT` (issue 9.1, 9.8): a checkpoint written by a 1-rank
training run is evaluated on 1 rank, 2x2 and dp=2 x 2x2; every mesh prints the same loss
over the same tokens, equal to the final eval_loss of the training run, and the token count
equals an independent count of the validation split's next-token targets (h5py). A missing
checkpoint is one error on every rank. LM and classification."""
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
parser.add_argument("--deck", required=True)
args = parser.parse_args()
launcher = Launcher(args)
tally = Tally()
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-eval-restart-"))
data_dir = Path(args.deck).resolve().parent / "data"

EVAL = re.compile(r"^eval: loss=(\d+\.\d+) (tokens|sequences)=(\d+)")
TRAIN = re.compile(r"eval_loss=(\d+\.\d+)")
MESHES = [(1, []), (4, []), (8, ["parallel.dp=2"])]  # 1 rank, 2x2, dp=2 x 2x2


def last(pattern, out):
    lines = [m for m in map(pattern.search, out.splitlines()) if m]
    return lines[-1] if lines else None


def independent_count(path, task):
    with h5py.File(path, "r") as f:
        t = f["validation/tokens"][...]
        if task == "classification":
            return len(t)
        return int((t[:, 1:] != int(f.attrs["pad_id"])).sum())


for task, data in (("lm", data_dir / "demo_lm.h5"), ("classification", data_dir / "demo_cls.h5")):
    common = [f"data.path={data}", f"data.task={task}"]
    # Keys only train reads (eval refuses an override it would ignore).
    train_only = ["run.eval_every=0", "run.log_every=100", "io.run_log=false", "optim.lr=1e-3"]
    out = tmp / task
    train_out = launcher.run(1, "train", args.deck, *common, *train_only, "run.steps=6", f"io.out_dir={out}")
    trained = float(last(TRAIN, train_out).group(1))
    ckpt = out / "ckpt_00000006.h5"
    results = []
    for ranks, extra in MESHES:
        m = last(EVAL, launcher.run(ranks, "eval", args.deck, *common, *extra, f"io.restart={ckpt}"))
        results.append((float(m.group(1)), int(m.group(3))) if m else (None, None))
    want = independent_count(data, task)
    losses = [r[0] for r in results]
    tally.check(f"{task}: eval io.restart on 1 rank, 2x2, dp=2 x 2x2 prints one loss: {losses}",
                None not in losses and len(set(losses)) == 1)
    tally.check(f"{task}: ... equal to the training run's final eval_loss {trained:.6f}",
                None not in losses and all(abs(l - trained) <= 1.5e-6 for l in losses))
    tally.check(f"{task}: every mesh scores the whole validation split ({want} targets): "
                f"{[r[1] for r in results]}", all(r[1] == want for r in results))
    fresh = last(EVAL, launcher.run(4, "eval", args.deck, *common))
    tally.check(f"{task}: without io.restart the untrained model scores differently "
                f"({fresh.group(1) if fresh else None})",
                fresh is not None and float(fresh.group(1)) != losses[0])

run = launcher.launch(4, ["eval", args.deck, f"data.path={data_dir / 'demo_lm.h5'}",
                          f"io.restart={tmp / 'no_such.h5'}"])
errors = [l for l in run.other if "error" in l]
tally.check(f"missing checkpoint: one error line, exit 1 on every rank: {errors}",
            run.proc is not None and run.exits == [1] * 4 and len(errors) == 1
            and "no_such.h5" in errors[0])
shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
