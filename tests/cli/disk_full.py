#!/usr/bin/env python3
"""A full disk on N ranks: io.out_dir on a small tmpfs that this test mounts (root only; it
exits 77, which CTest reports as skipped, when it cannot mount one).

For the free-space check before writing, and for the read-back check after it (the MPI-IO
layer does not report every failed write; ZOPTIMUS_TEST_SKIP_FREE_SPACE_CHECK lets the
write run into the full disk), and with the run log on:
- the run exits non-zero on every rank with one error line (no crash: not 139),
- no .tmp is left and every file under a final name passes `ckpt info --verify`,
- a damaged checkpoint under a newer name is skipped by io.restart = "latest" (which says so),
  and the run resumes from the newest valid one once there is room again.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py

from cli_support import Launcher, Tally, add_launcher_arguments

SKIP = 77

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--ranks", type=int, default=4)
parser.add_argument("--inputs", required=True, help="the repository's inputs/ folder")
args = parser.parse_args()
TINY = str(Path(args.inputs) / "tiny.toml")

if os.geteuid() != 0:
    print("SKIP: mounting a small tmpfs needs root")
    sys.exit(SKIP)
mnt = Path(tempfile.mkdtemp(prefix="zoptimus-disk-full-"))


def mount(size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                          capture_output=True, text=True)


p = mount("512k")
if p.returncode != 0:
    print(f"SKIP: cannot mount a tmpfs here: {p.stderr.strip()}")
    mnt.rmdir()
    sys.exit(SKIP)

launcher = Launcher(args)
tally = Tally()


def verify(path):
    p = subprocess.run([args.zoptimus, "ckpt", "info", "--verify", str(path)], capture_output=True,
                       text=True, timeout=60, env=launcher.env)
    return p.returncode == 0


def fill_run(name, extra, env=None):
    out = mnt / name
    os.environ.pop("ZOPTIMUS_TEST_SKIP_FREE_SPACE_CHECK", None)
    os.environ.update(env or {})
    launcher.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    run = launcher.launch(args.ranks, ["train", TINY, "run.steps=40", "io.checkpoint_every=1",
                                       "io.keep=1000", f"io.out_dir={out}", *extra])
    os.environ.pop("ZOPTIMUS_TEST_SKIP_FREE_SPACE_CHECK", None)
    problems = []
    if run.proc is None:
        problems.append("hung")
    elif len(run.exits) != args.ranks or any(e == 0 for e in run.exits):
        problems.append(f"rank exits {run.exits}, expected {args.ranks} non-zero")
    if any(e >= 128 for e in run.exits) or "Segmentation" in " ".join(run.other):
        problems.append(f"crashed: {run.exits}")
    # Open MPI's own I/O layer prints its failed writes (read_back); zoptimus prints one line.
    ours = [l for l in run.other if l.startswith("zoptimus:")]
    if len(ours) != 1 or "error" not in ours[0]:
        problems.append(f"{len(ours)} zoptimus lines, expected 1 error: {ours}")
    files = sorted(out.glob("ckpt_*.h5"))
    leftovers = sorted(p.name for p in out.glob("*.tmp"))
    if leftovers:
        problems.append(f".tmp files left: {leftovers}")
    if not files:
        problems.append("no checkpoint was written before the disk filled")
    bad = [f.name for f in files if not verify(f)]
    if bad:
        problems.append(f"files under a final name that do not validate: {bad}")
    shown = ours[0] if ours else ""
    tally.check(f"{name}: {len(files)} valid checkpoints, then: {shown}", not problems, problems)
    return out, files


fill_run("space_check", ["io.run_log=false"])
shutil.rmtree(mnt / "space_check")
fill_run("run_log_on", ["io.run_log=true"])
shutil.rmtree(mnt / "run_log_on")
out, files = fill_run("read_back", ["io.run_log=false"], {"ZOPTIMUS_TEST_SKIP_FREE_SPACE_CHECK": "1"})

# A damaged checkpoint under a newer name; then room again, and restart = latest.
newest = files[-1]
step = int(re.search(r"ckpt_(\d+)", newest.name).group(1))
damaged = out / "ckpt_00000099.h5"
subprocess.run(["mount", "-o", "remount,size=8m", str(mnt)], check=True)
shutil.copy(newest, damaged)
with h5py.File(damaged, "r+") as f:
    f["params/final_ln.bias"][0] = f["params/final_ln.bias"][0] + 1.0
run = launcher.launch(args.ranks, ["train", TINY, f"run.steps={step + 2}", "io.checkpoint_every=1",
                                   "io.keep=1000", "io.run_log=false", f"io.out_dir={out}",
                                   "io.restart=latest"])
stdout = run.proc.stdout if run.proc else ""
problems = []
if run.exits != [0] * args.ranks:
    problems.append(f"rank exits {run.exits}: {run.other}")
skips = [l for l in run.other if "skipping" in l and damaged.name in l]
if len(skips) != 1 or "checksum" not in skips[0]:
    problems.append(f"expected one warning that {damaged.name} is skipped (checksum): {run.other}")
if f"restart: {newest}" not in stdout:
    problems.append(f"did not restart from {newest}: {stdout[-500:]}")
if not verify(out / f"ckpt_{step + 2:08d}.h5"):
    problems.append("the resumed run's final checkpoint does not validate")
tally.check(f"restart = latest skips the damaged {damaged.name} and resumes from step {step}",
            not problems, problems)

subprocess.run(["umount", str(mnt)])
mnt.rmdir()
tally.finish()
