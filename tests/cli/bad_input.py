#!/usr/bin/env python3
"""Bad input on N ranks: each malformed deck or override must end the run with a non-zero
exit on every rank, one error line naming the problem, within a few seconds (no hang).

A valid deck run first shows that the failures come from the bad input, not the launcher.
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--zoptimus", required=True)
parser.add_argument("--mpiexec", default="mpiexec")
parser.add_argument("--mpiexec-flags", default="")
parser.add_argument("--ranks", type=int, default=4)
parser.add_argument("--inputs", required=True, help="the repository's inputs/ folder")
parser.add_argument("--time-limit", type=float, default=30.0,
                    help="seconds one failing run may take (oversubscribed start-up included)")
args = parser.parse_args()

TINY = str(Path(args.inputs) / "tiny.toml")
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-bad-input-"))


def deck(name, text):
    path = tmp / name
    path.write_text(text)
    return str(path)


# (description, argv after `zoptimus`, fragment the error line must contain)
CASES = [
    ("missing deck file", ["train", str(tmp / "nope.toml")], "cannot open input deck"),
    ("TOML syntax error", ["train", deck("syntax.toml", "[model\nhidden = 4\n")], "TOML syntax error"),
    ("unknown key", ["train", deck("key.toml", "[optim]\nlrr = 1e-3\n")], "unknown key 'optim.lrr'"),
    ("unknown section", ["train", deck("sec.toml", "[optimizer]\nlr = 1e-3\n")], "unknown section [optimizer]"),
    ("wrong type", ["train", deck("type.toml", "[model]\nhidden = \"big\"\n")], "model.hidden"),
    ("negative size", ["train", TINY, "model.hidden=-12"], "model.hidden"),
    ("zero layers", ["train", TINY, "model.layers=0"], "model.layers"),
    ("heads not divisible by hidden", ["train", TINY, "model.heads=5"], "model.heads = 5"),
    ("heads not divisible by q", ["train", TINY, "model.heads=3", "model.hidden=12"], "not divisible by the 2D mesh side q = 2"),
    ("ffn not divisible by q", ["train", TINY, "model.ffn=25"], "model.ffn = 25"),
    ("batch not divisible by q", ["train", TINY, "data.batch=3"], "data.batch = 3"),
    ("ranks != dp*q*q", ["train", TINY, "parallel.q=3"], "parallel.dp * parallel.q^2"),
    ("dp does not divide ranks", ["train", TINY, "parallel.dp=3"], "parallel.dp = 3"),
    ("ranks per replica not square", ["train", TINY, "parallel.dp=2"], "not a perfect square"),
    ("1D width mismatch", ["train", TINY, "parallel.mode=1d", "parallel.t=3"], "parallel.dp * parallel.t"),
    ("sequence longer than positions", ["train", TINY, "data.seq_len=17"], "data.seq_len = 17"),
    ("override without =", ["train", TINY, "optim.lr"], "key=value"),
    ("override unknown key", ["train", TINY, "optim.learning_rate=1"], "unknown key 'optim.learning_rate'"),
    ("override bad value", ["train", TINY, "optim.lr=abc"], "optim.lr"),
    ("bad choice", ["train", TINY, "optim.method=adam"], "optim.method"),
    ("sparsity out of range", ["train", TINY, "optim.sparsity=1.5"], "optim.sparsity"),
    ("q with 1D mode", ["train", TINY, "parallel.mode=1d", "parallel.q=2"], "parallel.q"),
]

flags = shlex.split(args.mpiexec_flags.replace(";", " "))
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
# Each rank reports its own exit status, so "non-zero on every rank" is checked directly.
WRAP = 'r=0; "$0" "$@" || r=$?; echo "zoptimus-test rank ${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-?}} exit $r" >&2'


def launch(argv):
    cmd = [args.mpiexec, "-n", str(args.ranks), *flags, "sh", "-c", WRAP, args.zoptimus, *argv]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        return None, None, [], 120.0
    elapsed = time.monotonic() - start
    exits = [int(l.rsplit(" ", 1)[1]) for l in p.stderr.splitlines() if l.startswith("zoptimus-test rank")]
    other = [l for l in p.stderr.splitlines() if not l.startswith("zoptimus-test rank") and l.strip()]
    return p, other, exits, elapsed


failed = 0
p, other, exits, elapsed = launch(["bench", "mesh", TINY])
ok = p is not None and len(exits) == args.ranks and all(e == 0 for e in exits)
print(f"{'ok  ' if ok else 'FAIL'} valid deck runs (exits {exits}, {elapsed:.1f}s)")
if not ok and p is not None:
    print(p.stdout, p.stderr)
failed += not ok

for name, argv, fragment in CASES:
    p, other, exits, elapsed = launch(argv)
    problems = []
    if p is None:
        problems.append("hung (killed after 120 s)")
    else:
        if len(exits) != args.ranks or any(e == 0 for e in exits):
            problems.append(f"rank exits {exits}, expected {args.ranks} non-zero")
        errors = [l for l in other if "error" in l]
        if len(errors) != 1:
            problems.append(f"{len(errors)} error lines, expected 1: {other}")
        elif fragment not in errors[0]:
            problems.append(f"error line lacks '{fragment}': {errors[0]}")
        if elapsed > args.time_limit:
            problems.append(f"took {elapsed:.1f}s > {args.time_limit}s")
    shown = other[0] if other else ""
    print(f"{'ok  ' if not problems else 'FAIL'} {name}: {shown} ({elapsed:.1f}s)")
    for pr in problems:
        print(f"       {pr}")
    failed += bool(problems)

total = len(CASES) + 1
print(f"{total - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
