#!/usr/bin/env python3
"""`zoptimus ckpt info` on N ranks, and the checkpoint file seen from outside zoptimus.

A checkpoint written by `zoptimus bench ckpt` must open in h5py (str/int attributes, float32
tensors at global shapes, no vocabulary padding) and in `h5dump -H`; `ckpt info` must exit 0
and list every tensor with its shape. Bad files (not HDF5, truncated, missing, wrong
format_version, float64 tensor) and `ckpt replay` must exit non-zero on every rank with one
error line naming the problem.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--ranks", type=int, default=4)
parser.add_argument("--inputs", required=True, help="the repository's inputs/ folder")
parser.add_argument("--h5dump", default=shutil.which("h5dump") or "")
args = parser.parse_args()

tmp = Path(tempfile.mkdtemp(prefix="zoptimus-ckpt-info-"))
launcher = Launcher(args)
tally = Tally()


def launch(argv):
    run = launcher.launch(args.ranks, argv)
    return run.proc, run.exits, run.errors


def report(name, problems):
    tally.check(name, not problems, problems)


# A valid checkpoint, written on the mesh of N ranks.
p, exits, _ = launch(["bench", "ckpt", str(Path(args.inputs) / "tiny.toml"), "--reps", "1",
                      f"io.out_dir={tmp / 'run'}"])
good = tmp / "run" / "ckpt_00000000.h5"
if exits != [0] * args.ranks or not good.exists():
    print(f"FAIL bench ckpt did not write {good}: exits {exits}\n{p.stdout}\n{p.stderr}")
    sys.exit(1)

problems = []
with h5py.File(good, "r") as f:
    a = f.attrs
    if a["format"] != "zoptimus-checkpoint" or not isinstance(a["format"], str):
        problems.append(f"format attribute {a['format']!r}")
    if int(a["format_version"]) != 1:
        problems.append(f"format_version {a['format_version']}")
    for key in ("deck", "mesh", "library_version", "git_hash", "created"):
        if not isinstance(a[key], str):
            problems.append(f"root attribute {key} is {type(a[key])}, expected str")
    vocab, hidden = int(f["model"].attrs["vocab"]), int(f["model"].attrs["hidden"])
    tensors = {name: d.shape for name, d in f["params"].items()}
    if f["params/embed_tokens"].shape != (vocab, hidden):
        problems.append(f"embed_tokens shape {f['params/embed_tokens'].shape}, expected {(vocab, hidden)}")
    if any(d.dtype != np.float32 for d in f["params"].values()):
        problems.append("a tensor is not float32")
    if not np.isfinite(f["params/layers.0.qkv.weight"][...]).all():
        problems.append("non-finite values")
    count = sum(int(np.prod(s)) for s in tensors.values())
report("h5py reads the checkpoint (str/int attributes, float32 tensors at global shapes)", problems)

if args.h5dump:
    d = subprocess.run([args.h5dump, "-H", str(good)], capture_output=True, text=True, timeout=60)
    report("h5dump -H reads the checkpoint",
           [] if d.returncode == 0 and "params" in d.stdout else [f"h5dump exit {d.returncode}: {d.stderr}"])

p, exits, errors = launch(["ckpt", "info", str(good)])
problems = []
if exits != [0] * args.ranks:
    problems.append(f"rank exits {exits}, expected all 0: {p.stderr}")
out = p.stdout
for want in ["format: zoptimus-checkpoint version 1", "step: 0", "written on mesh: 2d dp=1 x 2x2",
             f"parameters: {count} in {len(tensors)} tensors", "created: ", "deck (effective TOML"]:
    if want not in out:
        problems.append(f"output lacks '{want}'")
for name, shape in tensors.items():
    line = f"{name} [{', '.join(str(s) for s in shape)}]"
    if not any(l.split() == line.split() for l in out.splitlines()):
        problems.append(f"output lacks tensor line '{line}'")
report(f"ckpt info lists {len(tensors)} tensors on {args.ranks} ranks", problems)

# Bad files.
(tmp / "text.h5").write_text("[model]\nhidden = 4\n")
shutil.copy(good, tmp / "truncated.h5")
os.truncate(tmp / "truncated.h5", good.stat().st_size // 2)
shutil.copy(good, tmp / "version.h5")
with h5py.File(tmp / "version.h5", "r+") as f:
    f.attrs["format_version"] = np.int64(7)
shutil.copy(good, tmp / "dtype.h5")
with h5py.File(tmp / "dtype.h5", "r+") as f:
    data = f["params/final_ln.bias"][...]
    del f["params/final_ln.bias"]
    f["params/final_ln.bias"] = data.astype(np.float64)
shutil.copy(good, tmp / "negative_step.h5")
with h5py.File(tmp / "negative_step.h5", "r+") as f:
    f.attrs["step"] = np.int64(-3)

shutil.copy(good, tmp / "deleted.h5")
with h5py.File(tmp / "deleted.h5", "r+") as f:
    del f["params/final_ln.bias"]
shutil.copy(good, tmp / "nan.h5")
with h5py.File(tmp / "nan.h5", "r+") as f:
    f["params/final_ln.bias"][0] = np.nan

CASES = [
    # --verify makes the checks of a restart: the tensor table, checksums, finite values.
    ("--verify: deleted tensor", ["ckpt", "info", "--verify", str(tmp / "deleted.h5")],
     "missing tensor '/params/final_ln.bias'"),
    ("--verify: NaN value", ["ckpt", "info", "--verify", str(tmp / "nan.h5")],
     "does not match the checksum"),
    ("restart from a NaN checkpoint", ["train", str(Path(args.inputs) / "tiny.toml"),
                                       f"io.restart={tmp / 'nan.h5'}", f"io.out_dir={tmp / 'out'}"],
     "does not match the checksum"),
    ("negative step", ["ckpt", "info", str(tmp / "negative_step.h5")], "step = -3, expected"),
    ("not HDF5", ["ckpt", "info", str(tmp / "text.h5")], "not an HDF5 file"),
    ("truncated", ["ckpt", "info", str(tmp / "truncated.h5")], "truncated"),
    ("missing file", ["ckpt", "info", str(tmp / "nope.h5")], "no such file"),
    ("wrong format_version", ["ckpt", "info", str(tmp / "version.h5")], "format_version = 7, expected 1"),
    ("float64 tensor", ["ckpt", "info", str(tmp / "dtype.h5")],
     "tensor '/params/final_ln.bias' has dtype float64, expected float32"),
    ("no file given", ["ckpt", "info"], "expected one checkpoint file"),
    ("replay without --out", ["ckpt", "replay", str(good)], "usage: zoptimus ckpt replay"),
]
for name, argv, fragment in CASES:
    p, exits, errors = launch(argv)
    problems = []
    if len(exits) != args.ranks or any(e == 0 for e in exits):
        problems.append(f"rank exits {exits}, expected {args.ranks} non-zero")
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines, expected 1: {errors}")
    elif fragment not in errors[0]:
        problems.append(f"error line lacks '{fragment}': {errors[0]}")
    report(f"{name}: {errors[0] if errors else ''}", problems)

shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
