#!/usr/bin/env python3
"""A run owns its io.out_dir (issue 9.3).

- A lock held by a live process (this test's own pid, this host) refuses a second run, naming
  the owner's run, host and pid; the lock is left alone.
- A lock whose pid is a process that has exited (same host) is taken over with a warning and
  removed when the run ends; while another run holds the takeover guard, a run is refused.
- Checkpoints and the run log carry the run's id (the same string, the one the run prints).
- A rerun into a folder holding another run's checkpoint is refused, naming the file and the
  run that wrote it; with io.overwrite = true it runs, and the checkpoint then is its own.
- io.restart = latest says which run wrote the checkpoint it resumes; a leftover .h5.tmp of a
  killed writer is removed at start, with a message.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import h5py

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
parser.add_argument("--ranks", type=int, default=4)
parser.add_argument("--inputs", required=True, help="the repository's inputs/ folder")
args = parser.parse_args()

TINY = str(Path(args.inputs) / "tiny.toml")
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-out-dir-owner-"))
launcher = Launcher(args)
tally = Tally()
host = socket.gethostname()


def train(out, *more, ranks=args.ranks):
    return launcher.launch(ranks, ["train", TINY, "run.steps=2", f"io.out_dir={out}", *more])


def run_id_printed(run):
    m = re.search(r"^run (\S+): io.out_dir", run.proc.stdout if run.proc else "", re.M)
    return m.group(1) if m else None


# 1. A live owner.
out = tmp / "busy"
out.mkdir()
lock = out / "zoptimus.lock"
lock.write_text(f"run other-run\nhost {host}\npid {os.getpid()}\nsince 2026-01-01T00:00:00Z\n")
run = train(out)
e = run.errors[0] if len(run.errors) == 1 else ""
ok = (run.exits == [1] * args.ranks and "in use by run other-run" in e and f"pid {os.getpid()}" in e
      and host in e and lock.exists() and not list(out.glob("ckpt_*")))
tally.check(f"a live owner's lock refuses the run, naming it ({e})", ok, [run.exits, run.other])

# 2. A stale lock: the pid of a process that has exited, on this host.
dead = subprocess.Popen(["true"])
dead.wait()
out = tmp / "stale"
out.mkdir()
lock = out / "zoptimus.lock"
lock.write_text(f"run dead-run\nhost {host}\npid {dead.pid}\nsince 2026-01-01T00:00:00Z\n")
run = train(out)
warned = [l for l in run.other if "taking over the lock of run dead-run" in l]
ok = run.exits == [0] * args.ranks and len(warned) == 1 and not lock.exists()
tally.check(f"a stale lock is taken over with one warning ({warned[:1]})", ok,
            [run.exits, run.other])

# 2b. A stale lock that another run is taking over (its .takeover guard exists): refused, and
# neither file is touched (two runs taking over at once must not both win).
out = tmp / "takeover"
out.mkdir()
lock = out / "zoptimus.lock"
stale_text = f"run dead-run\nhost {host}\npid {dead.pid}\nsince 2026-01-01T00:00:00Z\n"
lock.write_text(stale_text)
guard = out / "zoptimus.lock.takeover"
guard.write_text(f"run racing-run\nhost {host}\npid {os.getpid()}\n")
run = train(out)
e = run.errors[0] if len(run.errors) == 1 else ""
ok = (run.exits == [1] * args.ranks and "another run is taking over the stale lock" in e
      and lock.read_text() == stale_text and guard.exists() and not list(out.glob("ckpt_*")))
tally.check(f"a takeover in progress refuses the run ({e})", ok, [run.exits, run.other])

# 3. Run ids in checkpoints and the run log; a rerun is refused unless io.overwrite.
out = tmp / "series"
first = train(out)
id1 = run_id_printed(first)
ckpt = out / "ckpt_00000002.h5"
with h5py.File(ckpt, "r") as f:
    ckpt_id = f.attrs.get("run_id")
with h5py.File(out / "run_0.h5", "r") as f:
    log_id = f.attrs.get("run_id")
ckpt_id = ckpt_id.decode() if isinstance(ckpt_id, bytes) else ckpt_id
log_id = log_id.decode() if isinstance(log_id, bytes) else log_id
tally.check(f"checkpoint and run log carry the printed run id ({id1})",
            first.exits == [0] * args.ranks and id1 and ckpt_id == id1 and log_id == id1,
            [first.other, ckpt_id, log_id])

before = ckpt.read_bytes()
run = train(out, "optim.lr=5e-3")
e = run.errors[0] if len(run.errors) == 1 else ""
ok = (run.exits == [1] * args.ranks and "ckpt_00000002.h5" in e and f"run {id1}" in e
      and "io.overwrite" in e and ckpt.read_bytes() == before)
tally.check(f"a rerun into another run's checkpoints is refused ({e})", ok, [run.exits, run.other])

run = train(out, "optim.lr=5e-3", "io.overwrite=true")
id2 = run_id_printed(run)
with h5py.File(ckpt, "r") as f:
    now = f.attrs.get("run_id")
now = now.decode() if isinstance(now, bytes) else now
ok = run.exits == [0] * args.ranks and id2 and id2 != id1 and now == id2
tally.check(f"io.overwrite = true replaces it (run {id2})", ok, [run.exits, run.other])

# 4. io.restart = latest names the writer; a leftover .tmp is removed at start.
leftover = out / "ckpt_00000003.h5.tmp"
leftover.write_bytes(b"half a checkpoint")
run = launcher.launch(args.ranks, ["train", TINY, "run.steps=4", f"io.out_dir={out}",
                                   "io.restart=latest"])
stdout = run.proc.stdout if run.proc else ""
removed = [l for l in run.other if "removed ckpt_00000003.h5.tmp" in l]
ok = (run.exits == [0] * args.ranks and f"(step 2, written by run {id2})" in stdout
      and not leftover.exists() and len(removed) == 1)
tally.check("restart = latest names the run that wrote it; the leftover .tmp is removed", ok,
            [run.exits, run.other, stdout[-1500:]])

shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
