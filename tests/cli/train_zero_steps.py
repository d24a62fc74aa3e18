#!/usr/bin/env python3
"""`zoptimus train DECK io.restart=CKPT run.steps=0` (issue 14.4): the zero-shot evaluation
of the restarted model. Compared with the independent path `zoptimus eval io.restart=CKPT`
on the same checkpoint (same loss to the printed digit, same token/sequence count), and with
the training run that wrote the checkpoint (its final eval_loss); on 1 rank and 2x2; LM and
classification. It exits 0 on every rank and writes nothing: io.out_dir is not created and
the directory holding the checkpoint is unchanged (no run log, no checkpoint)."""
import argparse
import re
import shutil
import tempfile
from pathlib import Path

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--deck", required=True)
args = parser.parse_args()
launcher = Launcher(args)
tally = Tally()
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-train-zero-steps-"))
data_dir = Path(args.deck).resolve().parent / "data"

EVAL = re.compile(r"^eval: loss=(\d+\.\d+) (tokens|sequences)=(\d+)")
ZERO = re.compile(r"^train: steps=0 eval_loss=(\d+\.\d+)")
TRAIN = re.compile(r"eval_loss=(\d+\.\d+)")


def last(pattern, out):
    lines = [m for m in map(pattern.search, out.splitlines()) if m]
    return lines[-1] if lines else None


def listing(d):
    return sorted((p.name, p.stat().st_size) for p in d.iterdir())


for task, data in (("lm", data_dir / "demo_lm.h5"), ("classification", data_dir / "demo_cls.h5")):
    common = [f"data.path={data}", f"data.task={task}"]
    out = tmp / task
    trained = launcher.run(1, "train", args.deck, *common, "run.steps=5", "run.eval_every=0",
                           "run.log_every=100", "optim.lr=1e-3", f"io.out_dir={out}")
    trained_loss = float(last(TRAIN, trained).group(1))
    ckpt = out / "ckpt_00000005.h5"
    reference = last(EVAL, launcher.run(1, "eval", args.deck, *common, f"io.restart={ckpt}"))
    before = listing(out)
    for ranks in (1, 4):
        fresh = tmp / f"{task}_zero_{ranks}"
        run = launcher.launch(ranks, ["train", args.deck, *common, f"io.restart={ckpt}",
                                      "run.steps=0", f"io.out_dir={fresh}"])
        stdout = run.proc.stdout if run.proc else ""
        ev, zero = last(EVAL, stdout), last(ZERO, stdout)
        tally.check(f"{task}, {ranks} rank(s): exit 0 on every rank, no error: {run.exits}",
                    run.proc is not None and run.exits == [0] * ranks and not run.errors,
                    run.other)
        tally.check(f"{task}, {ranks} rank(s): eval line {ev.group(0) if ev else None} equals "
                    f"`eval io.restart` {reference.group(0)}",
                    ev is not None and ev.group(1) == reference.group(1)
                    and ev.group(3) == reference.group(3))
        tally.check(f"{task}, {ranks} rank(s): last line is the steps=0 summary with that loss, "
                    f"= the training run's final eval_loss {trained_loss:.6f}",
                    zero is not None and stdout.strip().splitlines()[-1].startswith("train: steps=0")
                    and zero.group(1) == reference.group(1)
                    and abs(float(zero.group(1)) - trained_loss) <= 1.5e-6)
        tally.check(f"{task}, {ranks} rank(s): nothing written (no {fresh.name}/, checkpoint "
                    "directory unchanged)", not fresh.exists() and listing(out) == before)
    # run.steps=0 with io.restart=latest reads the out_dir and still writes nothing into it.
    run = launcher.launch(1, ["train", args.deck, *common, "io.restart=latest", "run.steps=0",
                              f"io.out_dir={out}"])
    ev = last(EVAL, run.proc.stdout if run.proc else "")
    tally.check(f"{task}: io.restart=latest run.steps=0 scores the newest checkpoint and "
                "leaves the directory unchanged",
                ev is not None and ev.group(1) == reference.group(1) and listing(out) == before)

shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
