#!/usr/bin/env python3
"""`zoptimus --help` and `zoptimus <cmd> --help` print usage and exit 0."""
import argparse
import subprocess

from cli_support import Tally

parser = argparse.ArgumentParser()
parser.add_argument("--zoptimus", required=True)
args = parser.parse_args()


def run(argv):
    return subprocess.run([args.zoptimus, *argv], capture_output=True, text=True, timeout=60)


checks = []
for cmd in ([], ["train"], ["eval"], ["bench"], ["data"], ["ckpt"]):
    p = run([*cmd, "--help"])
    checks.append((f"zoptimus {' '.join(cmd)} --help prints usage",
                   p.returncode == 0 and "Usage:" in p.stdout
                   and (not cmd or cmd[0] in p.stdout)))
    # Kokkos's own option list (~40 lines) only under --kokkos-help.
    checks.append((f"zoptimus {' '.join(cmd)} --help has no Kokkos options",
                   "kokkos" not in (p.stdout + p.stderr).lower()))
p = run(["--kokkos-help"])
checks.append(("zoptimus --kokkos-help prints Kokkos's options",
               p.returncode == 0 and "--kokkos-threads" in p.stdout + p.stderr))
p = run(["--list-keys"])
checks.append(("zoptimus --list-keys lists deck keys", p.returncode == 0 and "optim.lr" in p.stdout))
p = run([])
checks.append(("zoptimus without a subcommand exits non-zero", p.returncode != 0))
p = run(["--version"])
checks.append(("zoptimus --version", p.returncode == 0 and "git" in p.stdout))

tally = Tally()
for name, ok in checks:
    tally.check(name, ok)
tally.finish()
