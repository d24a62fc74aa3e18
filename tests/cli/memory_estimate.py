#!/usr/bin/env python3
"""The per-rank memory estimate made from the deck before allocating (issue 9.5).

- Against the workspace registry's figures after the model is built (the run log's
  /ranks/*_bytes, rank 0), on three meshes: parameters within 5% (the estimate ignores the
  padding of blocks to the mesh),
  activations within 5% (padding of the local vocabulary block), SUMMA panels and ZO scratch
  no larger than the estimate (it bounds them: their real size depends on the GEMM order and
  the perturbed tensors).
- data.batch = 2^30: one message with the numbers and the key (data.batch), non-zero exit on
  every rank, no std::bad_alloc.
"""
import argparse
import re
import shutil
import tempfile
from pathlib import Path

import h5py

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--ranks", type=int, default=4)
parser.add_argument("--inputs", required=True, help="the repository's inputs/ folder")
args = parser.parse_args()

inputs = Path(args.inputs)
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-memory-estimate-"))
launcher = Launcher(args)
tally = Tally()
LINE = re.compile(r"memory estimate per rank: .*\(parameters ([\d.]+), activations ([\d.]+), "
                  r"SUMMA panels <= ([\d.]+), ZO scratch <= ([\d.]+) KiB\)")

cases = [("demo 2x2", args.ranks, [str(inputs / "demo.toml")]),
         ("demo 1d", args.ranks, [str(inputs / "demo.toml"), "parallel.mode=1d"]),
         ("tiny 1 rank", 1, [str(inputs / "tiny.toml")])]
for name, ranks, deck in cases:
    out = tmp / name.replace(" ", "_")
    run = launcher.launch(ranks, ["train", *deck, "run.steps=2", f"io.out_dir={out}"])
    m = LINE.search(run.proc.stdout if run.proc else "")
    if run.exits != [0] * ranks or not m:
        tally.check(f"{name}: run and estimate line", False, [run.exits, run.other])
        continue
    est = [float(x) * 1024 for x in m.groups()]
    with h5py.File(out / "run_0.h5", "r") as f:
        g = f["ranks"]
        real = [float(g[k][0]) for k in ("param_bytes", "activation_bytes",
                                         "summa_panel_bytes", "zo_scratch_bytes")]
    ok = (abs(est[0] - real[0]) <= 0.05 * real[0] and abs(est[1] - real[1]) <= 0.05 * real[1]
          and real[2] <= est[2] and real[3] <= est[3])
    tally.check(f"{name}: estimate {[round(x) for x in est]} vs registry "
                f"{[round(x) for x in real]} bytes", ok)

run = launcher.launch(args.ranks, ["train", str(inputs / "tiny.toml"), "data.batch=1073741824",
                                   f"io.out_dir={tmp / 'huge'}"])
e = run.errors[0] if len(run.errors) == 1 else ""
ok = (run.proc is not None and len(run.exits) == args.ranks and all(x != 0 for x in run.exits)
      and "lower data.batch (now 1073741824)" in e and "MiB per rank" in e
      and not any("bad_alloc" in l for l in run.other))
tally.check(f"data.batch = 2^30: one message naming data.batch ({e})", ok, [run.exits, run.other])

shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
