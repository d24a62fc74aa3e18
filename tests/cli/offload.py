#!/usr/bin/env python3
"""optim.offload through the command line, on a 2x2 mesh:
- a checkpoint written with offload on, restarted with offload off (and the reverse),
  continues bit for bit like an uninterrupted run without offloading (losses of every step
  from the run logs, final weights from the checkpoints);
- a device cap below the minimum ring (3 slots of one layer) is refused with one message and
  a non-zero exit on every rank;
- the train summary reports the bytes moved, which match the closed form
  (per step: n_perturb x layers x layer bytes up, layers x layer bytes back)."""
import argparse
import os
import re
import tempfile

import h5py
import numpy as np

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--deck", required=True)
parser.add_argument("--ranks", type=int, default=4)
args = parser.parse_args()
launcher = Launcher(args)

N = 3
LAYERS = 4
COMMON = ["run.log_every=100", "run.eval_every=0", "run.eval_batches=1",
          f"model.layers={LAYERS}", "optim.method=sparse_mezo", "optim.sparse_refresh=2",
          "optim.n_perturb=2", "optim.lr=1e-3", "optim.eps=1e-2"]
tmp = tempfile.mkdtemp(prefix="zoptimus-offload-")


def train(out, *extra):
    return launcher.run(args.ranks, "train", args.deck, *COMMON, f"io.out_dir={out}", *extra)


def losses(*logs):
    lp, lm = [], []
    for log in logs:
        with h5py.File(log, "r") as f:
            lp.append(f["steps/loss_plus"][:])
            lm.append(f["steps/loss_minus"][:])
    return np.concatenate(lp), np.concatenate(lm)


def same_weights(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        return sorted(fa["params"]) == sorted(fb["params"]) and all(
            fa["params"][k][:].tobytes() == fb["params"][k][:].tobytes() for k in fa["params"])


ref, on_off, off_on = (os.path.join(tmp, x) for x in ("ref", "on_off", "off_on"))
train(ref, f"run.steps={2 * N}")
train(on_off, f"run.steps={N}", "optim.offload=true")
train(on_off, f"run.steps={2 * N}", "io.restart=latest")
train(off_on, f"run.steps={N}")
out = train(off_on, f"run.steps={2 * N}", "io.restart=latest", "optim.offload=true",
            "optim.offload_device_bytes=1000000")

ref_l = losses(f"{ref}/run_0.h5")
tally = Tally()
for name, d in (("offload on, restart off", on_off), ("offload off, restart on", off_on)):
    got = losses(f"{d}/run_0.h5", f"{d}/run_1.h5")
    tally.check(f"{name}: l+ and l- of every step bit-identical to the uninterrupted run",
                np.array_equal(ref_l[0], got[0]) and np.array_equal(ref_l[1], got[1]))
    tally.check(f"{name}: final weights bit-identical",
                same_weights(f"{ref}/ckpt_{2 * N:08d}.h5", f"{d}/ckpt_{2 * N:08d}.h5"))

# The summary line of the restarted offloaded run (steps N..2N-1). Uploads: two passes per
# step (n_perturb = 2), the flushes (before each Sparse refresh that has an update pending,
# t in (N, 2N) even, and at the end) and the two held-out evaluations (one batch each, not
# written back). Writebacks: the first pass of each step that has an update pending (not the
# first step after the restart, not a step whose refresh flushed it) and the flushes.
m = re.search(r"offload: slots=(\d+) slot_bytes=(\d+) layer_bytes=(\d+) uploaded=(\d+) "
              r"written_back=(\d+)", out)
if tally.check("the train summary reports offload figures", m is not None, [out[-2000:]]):
    slots, slot_bytes, layer_bytes, up, back = map(int, m.groups())
    refreshes = sum(1 for t in range(N + 1, 2 * N) if t % 2 == 0)
    expect_up = (2 * N + refreshes + 1 + 2) * LAYERS * layer_bytes
    expect_back = ((N - 1 - refreshes) + refreshes + 1) * LAYERS * layer_bytes
    tally.check("uploaded bytes = (steps x n_perturb + flushes + evaluations) x layers x "
                "layer bytes", up == expect_up, [f"{up} != {expect_up}"])
    tally.check("written-back bytes = (steps with an update pending + flushes) x layers x layer bytes",
                back == expect_back, [f"{back} != {expect_back}"])
    tally.check("the ring fits the cap and holds at least 3 slots",
                slots >= 3 and slots * slot_bytes <= 1000000 and slots <= LAYERS)

bad = launcher.launch(args.ranks, ["train", args.deck, *COMMON, f"io.out_dir={tmp}/bad",
                                   "optim.offload=true", "optim.offload_device_bytes=100"])
tally.check("a cap below the minimum ring: non-zero exit on every rank",
            bad.proc is not None and len(bad.exits) == args.ranks and all(bad.exits),
            [f"exits {bad.exits}"])
tally.check("... with one message naming the key and the minimum",
            len(bad.errors) == 1 and "optim.offload_device_bytes = 100 is smaller than the "
            "smallest offload ring: 3 slots" in bad.errors[0], [f"{bad.other}"])
tally.finish()
