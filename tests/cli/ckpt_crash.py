#!/usr/bin/env python3
"""Crash safety of checkpoints: a process rewriting a checkpoint is killed with SIGKILL at
several moments of the write. Afterwards the previous checkpoint must still load with its
exact weights, no file under a real name may be half-written (only *.tmp may be left), and
CheckpointSeries::latest() must name the newest complete checkpoint.
"""
import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--driver", required=True, help="checkpoint_crash_driver executable")
parser.add_argument("--mpiexec", default="mpiexec")
parser.add_argument("--mpiexec-flags", default="")
args = parser.parse_args()

flags = shlex.split(args.mpiexec_flags.replace(";", " "))
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
# Seconds to wait after the step-2 .tmp appears: inside the first write, and (later delays)
# inside a rewrite while a complete step 2 already sits under the real name.
DELAYS = [0.0, 0.01, 0.08, 0.4]


def driver(mode, folder):
    return [args.mpiexec, "-n", "1", *flags, args.driver, mode, str(folder)]


def wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.002)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def trial(delay):
    folder = Path(tempfile.mkdtemp(prefix="zoptimus-crash-"))
    a, b = folder / "ckpt_00000001.h5", folder / "ckpt_00000002.h5"
    b_tmp = Path(str(b) + ".tmp")
    proc = subprocess.Popen(driver("write", folder), stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "pid":
            raise RuntimeError(f"driver did not report its pid: {first}")
        pid = int(first[1])
        wait_for(a.exists, 60, f"{a.name}")
        wait_for(b_tmp.exists, 60, f"{b_tmp.name}")
        time.sleep(delay)
        tmp_size = b_tmp.stat().st_size if b_tmp.exists() else None
        os.kill(pid, signal.SIGKILL)  # the writer itself, not the launcher
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    real = sorted(p.name for p in folder.iterdir() if p.name.endswith(".h5"))
    leftovers = sorted(p.name for p in folder.iterdir() if not p.name.endswith(".h5"))
    check = subprocess.run(driver("verify", folder), capture_output=True, text=True, env=env,
                           timeout=120)
    problems = []
    if check.returncode != 0:
        problems.append("verify failed")
    if any(not n.endswith(".h5.tmp") for n in leftovers):
        problems.append(f"unexpected files {leftovers}")
    ok = not problems
    print(f"{'ok  ' if ok else 'FAIL'} kill {delay * 1000:.0f} ms after {b_tmp.name} appeared "
          f"(.tmp then {tmp_size} bytes): real names {real}, left {leftovers}")
    for line in check.stdout.splitlines():
        print(f"       {line}")
    if not ok:
        print(f"       {'; '.join(problems)}\n{check.stderr}")
    shutil.rmtree(folder, ignore_errors=True)
    return ok


failed = sum(not trial(d) for d in DELAYS)
print(f"{len(DELAYS) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
