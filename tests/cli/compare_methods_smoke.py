#!/usr/bin/env python3
"""scripts/compare_methods in a short configuration: the demo deck pointed at its dataset with
--data, 4 steps per run. Checks the figures it reports against the run logs it leaves:
six runs (three methods, plain and Anderson), all from the same starting loss, the target is
MeZO's final validation loss (which MeZO therefore reaches), the
steps and seconds to target agree with the logged evaluations and step times, and every
Anderson run mixed on most steps with counts that add up to the steps run."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from cli_support import Tally

parser = argparse.ArgumentParser()
parser.add_argument("--script", required=True)
parser.add_argument("--zoptimus", required=True)
parser.add_argument("--deck", required=True)
parser.add_argument("--data", required=True)
args = parser.parse_args()
tmp = tempfile.mkdtemp(prefix="zoptimus-compare-smoke-")
STEPS = 4
# A copy under another name, so the logged deck shows the runs read --data, not the default.
data = os.path.join(tmp, "compare_smoke_data.h5")
shutil.copyfile(args.data, data)
cmd = [sys.executable, args.script, "--deck", args.deck, "--data", data, "--steps",
       str(STEPS), "--eval-every", "2", "--zoptimus", args.zoptimus, "--out-dir", tmp,
       "--json", os.path.join(tmp, "figures.json"), "run.eval_batches=1"]
p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
print(p.stdout)
tally = Tally()
if not tally.check("compare_methods exits 0", p.returncode == 0, [p.stderr[-2000:]]):
    tally.finish()
with open(os.path.join(tmp, "figures.json")) as f:
    fig = json.load(f)
rows = fig["rows"]
tally.check("six runs: mezo, sparse_mezo, lezo, each plain and with Anderson m=2",
            [(r["method"], r["m"]) for r in rows] ==
            [(m, a) for m in ("mezo", "sparse_mezo", "lezo") for a in (0, 2)])
tally.check("every run starts from the same validation loss",
            len({r["eval_loss"][0] for r in rows}) == 1)
mezo = rows[0]
tally.check("the target is MeZO's final validation loss, which MeZO reaches",
            fig["target"] == mezo["eval_loss"][-1] and mezo["steps_to_target"] is not None)
for r in rows:
    with h5py.File(r["run_log"]) as f:
        ev_loss, ev_step = f["eval/loss"][:], f["eval/step"][:]
        step_s = f["steps/step_seconds"][:]
        data_path = f.attrs["deck"]
    label = f"{r['method']} m={r['m']}"
    tally.check(f"{label}: curves are the logged evaluations",
                np.array_equal(ev_loss, r["eval_loss"]) and np.array_equal(ev_step, r["eval_step"]))
    hit = np.nonzero(ev_loss <= fig["target"])[0]
    want = (int(ev_step[hit[0]]), float(step_s[:int(ev_step[hit[0]])].sum())) if hit.size else None
    got = ((r["steps_to_target"], r["seconds_to_target"]) if r["steps_to_target"] is not None
           else None)
    tally.check(f"{label}: steps/seconds to target agree with the log ({got})",
                (want is None and got is None) or
                (want is not None and got is not None and want[0] == got[0] and
                 abs(want[1] - got[1]) <= 1e-9 * max(1, want[1])), [want, got])
    tally.check(f"{label}: the run read --data", "compare_smoke_data.h5" in data_path)
    if r["m"]:
        a = r["anderson"]
        total = a["mixed_steps"] + a["plain_no_history"] + a["plain_singular"] + a["plain_gamma_norm"]
        tally.check(f"{label}: mixed on {a['mixed_steps']} of {total} steps",
                    total == STEPS and a["mixed_steps"] >= STEPS // 2, [a])
tally.finish()
