#!/usr/bin/env python3
"""`zoptimus ckpt replay`: the final weights rebuilt from the initial weights plus the run log
equal the trained weights bit for bit, replayed on 1 rank and on 4 (the update is
element-wise). LeZO with two perturbations per step and momentum exercises layer subsets,
several seeds per step and the momentum recurrence. Runs restarted from a checkpoint replay
from that checkpoint: Sparse-MeZO thresholds and momentum come from it, and an Anderson
window that reaches back past the restart regenerates the earlier directions."""
import argparse
import tempfile

import h5py
import numpy as np

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--deck", required=True)
args = parser.parse_args()
run = Launcher(args).run
tmp = tempfile.mkdtemp(prefix="zoptimus-replay-")
STEPS = 12


run(4, "train", args.deck, f"run.steps={STEPS}", "run.log_every=100", "run.eval_every=0",
    "run.eval_batches=1", "optim.method=lezo", "optim.active_layers=1", "optim.n_perturb=2",
    "optim.momentum=0.9", "optim.weight_decay=0.01", f"io.out_dir={tmp}/train")
trained = f"{tmp}/train/ckpt_{STEPS:08d}.h5"
tally = Tally()
for ranks in (1, 4):
    out = f"{tmp}/replayed_np{ranks}.h5"
    print(run(ranks, "ckpt", "replay", f"{tmp}/train/run_0.h5", "--out", out).strip().splitlines()[-1])
    with h5py.File(trained) as a, h5py.File(out) as b:
        same = all(np.array_equal(a["params"][k][:], b["params"][k][:]) for k in a["params"])
        moved = any(not np.array_equal(a["params"][k][:], 0 * a["params"][k][:]) for k in a["params"])
    tally.check(f"replay on {ranks} rank(s) equals the trained weights bit for bit", same and moved)


def same_params(a_path, b_path):
    with h5py.File(a_path) as a, h5py.File(b_path) as b:
        return all(np.array_equal(a["params"][k][:], b["params"][k][:]) for k in a["params"])


COMMON = ["run.log_every=100", "run.eval_every=0", "run.eval_batches=1"]
RESTARTED = {
    "sparse_mezo + momentum": ["optim.method=sparse_mezo", "optim.sparsity=0.5",
                               "optim.momentum=0.9", "optim.lr=1e-2"],
    "lezo + anderson m=2": ["optim.method=lezo", "optim.active_layers=1",
                            "optim.anderson.m=2", "optim.weight_decay=0"],
}
for name, extra in RESTARTED.items():
    d = f"{tmp}/{name.replace(' ', '_').replace('+', '').replace('=', '')}"
    run(1, "train", args.deck, *COMMON, *extra, "run.steps=4", f"io.out_dir={d}/first")
    run(1, "train", args.deck, *COMMON, *extra, "run.steps=9",
        f"io.restart={d}/first/ckpt_00000004.h5", f"io.out_dir={d}/second")
    run(4, "ckpt", "replay", f"{d}/second/run_0.h5", "--out", f"{d}/replayed.h5")
    tally.check(f"restarted run ({name}) replays from its checkpoint bit for bit",
                same_params(f"{d}/second/ckpt_00000009.h5", f"{d}/replayed.h5"))
tally.finish()
