#!/usr/bin/env python3
"""`zoptimus ckpt replay`: the final weights rebuilt from the initial weights plus the run log
equal the trained weights bit for bit, replayed on 1 rank and on 4 (the update is
element-wise). LeZO with two perturbations per step and momentum exercises layer subsets,
several seeds per step and the momentum recurrence."""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile

import h5py
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--zoptimus", required=True)
parser.add_argument("--mpiexec", default="mpiexec")
parser.add_argument("--mpiexec-flags", default="")
parser.add_argument("--deck", required=True)
args = parser.parse_args()

flags = shlex.split(args.mpiexec_flags.replace(";", " "))
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
tmp = tempfile.mkdtemp(prefix="zoptimus-replay-")
STEPS = 12


def run(ranks, *argv):
    cmd = [args.mpiexec, "-n", str(ranks), *flags, args.zoptimus, *argv]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}")
    return p.stdout


run(4, "train", args.deck, f"run.steps={STEPS}", "run.log_every=100", "run.eval_every=0",
    "run.eval_batches=1", "optim.method=lezo", "optim.active_layers=1", "optim.n_perturb=2",
    "optim.momentum=0.9", "optim.weight_decay=0.01", f"io.out_dir={tmp}/train")
trained = f"{tmp}/train/ckpt_{STEPS:08d}.h5"
checks = []
for ranks in (1, 4):
    out = f"{tmp}/replayed_np{ranks}.h5"
    print(run(ranks, "ckpt", "replay", f"{tmp}/train/run_0.h5", "--out", out).strip().splitlines()[-1])
    with h5py.File(trained) as a, h5py.File(out) as b:
        same = all(np.array_equal(a["params"][k][:], b["params"][k][:]) for k in a["params"])
        moved = any(not np.array_equal(a["params"][k][:], 0 * a["params"][k][:]) for k in a["params"])
    checks.append((f"replay on {ranks} rank(s) equals the trained weights bit for bit", same and moved))
failed = 0
for name, ok in checks:
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
    failed += not ok
print(f"{len(checks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
