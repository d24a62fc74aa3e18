#!/usr/bin/env python3
"""`zoptimus train` with Anderson (m = 2) for every method (mezo, sparse_mezo, lezo) and Gram
mode (exact, diag) on 1 rank and on one other mesh (--mesh 2x2 or 1d2): every run completes,
mixes on most steps (the run log's anderson_* attributes say how many and why not), and the
trajectory is mesh-invariant to rounding: the same mixing decisions and restarts, l+/l- per
step within 1e-5 relative (fp32 forwards summed in a different order, as test_zo_mesh), and
the logged Anderson coefficients within 1e-3 of the step's largest (g = (l+ - l-) / 2 eps
carries that rounding divided by 2 eps = 2e-2)."""
import argparse
import os
import tempfile

import h5py
import numpy as np

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--deck", required=True)
parser.add_argument("--mesh", choices=["2x2", "1d2"], required=True)
args = parser.parse_args()
run = Launcher(args).run
tmp = tempfile.mkdtemp(prefix="zoptimus-anderson-matrix-")
STEPS = 8
MESH = {"2x2": (4, ["parallel.mode=2d"]), "1d2": (2, ["parallel.mode=1d"])}[args.mesh]
ATTRS = ["anderson_mixed_steps", "anderson_plain_no_history", "anderson_plain_singular",
         "anderson_plain_gamma_norm", "anderson_restarts", "anderson_restart_loss_rise",
         "anderson_restart_period", "anderson_restart_masks"]


def train(ranks, name, extra):
    out = os.path.join(tmp, name)
    stdout = run(ranks, "train", args.deck, f"run.steps={STEPS}", "run.eval_every=0",
                 "run.log_every=1000", "optim.eps=1e-2", "optim.anderson.m=2",
                 f"io.out_dir={out}", *extra)
    summary = [l for l in stdout.splitlines() if "anderson: m=2" in l]
    with h5py.File(os.path.join(out, "run_0.h5")) as f:
        s = f["steps"]
        offs = s["anderson_coeffs_offsets"][:]
        flat = s["anderson_coeffs"][:]
        return dict(lp=s["loss_plus"][:, 0], lm=s["loss_minus"][:, 0],
                    coeffs=[flat[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)],
                    attrs={a: int(f.attrs[a]) for a in ATTRS}, summary=summary)


tally = Tally()
for method in ("mezo", "sparse_mezo", "lezo"):
    for gram in ("exact", "diag"):
        extra = [f"optim.method={method}", f"optim.anderson.gram={gram}"]
        name = f"{method}_{gram}"
        one = train(1, name + "_np1", extra)
        other = train(MESH[0], f"{name}_{args.mesh}", extra + MESH[1])
        a = one["attrs"]
        tally.check(f"{name}: 1 rank prints the mixing summary and logs the counts",
                    len(one["summary"]) == 1 and sum(a[k] for k in ATTRS[:4]) == STEPS,
                    [one["summary"], a])
        tally.check(f"{name}: mixes on most steps ({a['anderson_mixed_steps']} of {STEPS})",
                    a["anderson_mixed_steps"] >= STEPS // 2, [a])
        tally.check(f"{name} on {args.mesh}: the same mixing decisions and restarts",
                    other["attrs"] == a, [a, other["attrs"]])
        rel = max(np.max(np.abs(other["lp"] / one["lp"] - 1)),
                  np.max(np.abs(other["lm"] / one["lm"] - 1)))
        tally.check(f"{name} on {args.mesh}: l+- within 1e-5 relative (max {rel:.1e})", rel <= 1e-5)
        worst = 0.0
        same_shape = all(len(x) == len(y) for x, y in zip(one["coeffs"], other["coeffs"]))
        for x, y in zip(one["coeffs"], other["coeffs"]):
            if len(x) == len(y) and len(x) > 2:  # [anchor, directions, coefficients...]
                ok_head = np.array_equal(x[:2], y[:2])
                scale = np.max(np.abs(x[2:]))
                worst = max(worst, np.max(np.abs(x[2:] - y[2:])) / scale if scale > 0 else 0.0)
                same_shape = same_shape and ok_head
        tally.check(f"{name} on {args.mesh}: Anderson coefficients within 1e-3 "
                    f"(max {worst:.1e} of the step's largest)", same_shape and worst <= 1e-3)

# Sparse-MeZO with thresholds refreshed every 3 steps: no Anderson window may reach back past
# a refresh (its directions, regenerated under the new masks, are not the steps taken).
REFRESH = 3
extra = ["optim.method=sparse_mezo", f"optim.sparse_refresh={REFRESH}"]
for ranks, label, more in ((1, "1 rank", []), (MESH[0], args.mesh, MESH[1])):
    r = train(ranks, f"sparse_refresh_{ranks}", extra + more)
    spans = [(i, int(c[0])) for i, c in enumerate(r["coeffs"]) if len(c) > 2]
    crossing = [(i, a) for i, a in spans
                if any(a < t <= i for t in range(REFRESH, STEPS, REFRESH))]
    tally.check(f"sparse_mezo refresh={REFRESH} on {label}: no window spans a threshold refresh "
                f"({r['attrs'].get('anderson_restart_masks')} restarts for it)",
                spans and not crossing and r["attrs"]["anderson_restart_masks"] >= 1,
                [crossing, r["attrs"]])
tally.finish()
