#!/usr/bin/env python3
"""Restart continuity: 2N steps in one run equal N steps + restart + N steps bit for bit on
the same mesh, and within 1e-5 relative when the restart runs on another mesh (2x2 from a
1-rank checkpoint). Sparse-MeZO with momentum, so thresholds and the momentum buffer must
come back from the checkpoint too. Losses are read from the runs' HDF5 run logs."""
import argparse
import os
import tempfile

import h5py
import numpy as np

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--deck", required=True)
args = parser.parse_args()
launcher = Launcher(args)

N = 8
COMMON = ["run.log_every=100", "run.eval_every=0", "run.eval_batches=1",
          "optim.method=sparse_mezo", "optim.momentum=0.9", "optim.schedule=constant",
          "optim.lr=1e-3", "optim.eps=1e-2"]
tmp = tempfile.mkdtemp(prefix="zoptimus-restart-")


def train(ranks, out, *extra):
    return launcher.run(ranks, "train", args.deck, *COMMON, f"io.out_dir={out}", *extra)


def losses(*logs):
    lp, lm = [], []
    for log in logs:
        with h5py.File(log, "r") as f:
            lp.append(f["steps/loss_plus"][:, 0])
            lm.append(f["steps/loss_minus"][:, 0])
    return np.concatenate(lp), np.concatenate(lm)


a, b, c = (os.path.join(tmp, x) for x in "abc")
train(1, a, f"run.steps={2 * N}", f"io.checkpoint_every={N}")
train(1, b, f"run.steps={N}")
train(1, b, f"run.steps={2 * N}", "io.restart=latest")
os.makedirs(c)
train(4, c, f"run.steps={2 * N}", f"io.restart={b}/ckpt_{N:08d}.h5")

ref_p, ref_m = losses(f"{a}/run_0.h5")
same_p, same_m = losses(f"{b}/run_0.h5", f"{b}/run_1.h5")
other_p, other_m = losses(f"{c}/run_0.h5")
checks = [
    ("same mesh: l+ and l- bit-identical over 2N steps",
     np.array_equal(ref_p, same_p) and np.array_equal(ref_m, same_m)),
    ("other mesh (2x2 from a 1-rank checkpoint): l+- within 1e-5 relative",
     np.allclose(other_p, ref_p[N:], rtol=1e-5, atol=0)
     and np.allclose(other_m, ref_m[N:], rtol=1e-5, atol=0)),
]
with h5py.File(f"{a}/ckpt_{2 * N:08d}.h5") as fa, h5py.File(f"{b}/ckpt_{2 * N:08d}.h5") as fb:
    checks.append(("same mesh: final weights and momentum bit-identical",
                   all(np.array_equal(fa["params"][k][:], fb["params"][k][:]) for k in fa["params"])
                   and all(np.array_equal(fa["optim/momentum"][k][:], fb["optim/momentum"][k][:])
                           for k in fa["optim/momentum"])))
print(f"max relative l+ difference on the other mesh: "
      f"{np.max(np.abs(other_p / ref_p[N:] - 1)):.2e}")
tally = Tally()
for name, ok in checks:
    tally.check(name, ok)
tally.finish()
