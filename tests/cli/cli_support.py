"""Shared pieces of the command-line tests: the MPI launcher (with Open MPI's flags, and a
wrapper that makes every rank report its own exit status) and the pass/fail tally whose last
line, `N passed, M failed`, CTest output readers recognise."""
import os
import shlex
import subprocess
import sys
import time

# Each rank prints its own exit status on stderr, so "non-zero on every rank" is checked.
_WRAP = ('r=0; "$0" "$@" || r=$?; '
         'echo "zoptimus-test rank ${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-?}} exit $r" >&2')


def add_launcher_arguments(parser):
    parser.add_argument("--zoptimus", required=True)
    parser.add_argument("--mpiexec", default="mpiexec")
    parser.add_argument("--mpiexec-flags", default="",
                        help="MPIEXEC_PREFLAGS from CMake (';' or ' ' separated)")


class Launch:
    """The outcome of one MPI launch: the process, stderr lines that are not the per-rank exit
    reports, each rank's exit status, and the wall time (None process when it hung)."""

    def __init__(self, proc, other, exits, seconds):
        self.proc, self.other, self.exits, self.seconds = proc, other, exits, seconds

    @property
    def errors(self):
        return [line for line in self.other if "error" in line]


class Launcher:
    def __init__(self, args):
        self.zoptimus = args.zoptimus
        self.mpiexec = args.mpiexec
        self.flags = shlex.split(args.mpiexec_flags.replace(";", " "))
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

    def command(self, ranks, argv, per_rank_exits=False):
        prefix = [self.mpiexec, "-n", str(ranks), *self.flags]
        if per_rank_exits:
            return [*prefix, "sh", "-c", _WRAP, self.zoptimus, *argv]
        return [*prefix, self.zoptimus, *argv]

    def launch(self, ranks, argv, timeout=120):
        """Runs zoptimus on `ranks` ranks, recording every rank's exit status."""
        start = time.monotonic()
        try:
            p = subprocess.run(self.command(ranks, argv, True), capture_output=True, text=True,
                               timeout=timeout, env=self.env)
        except subprocess.TimeoutExpired:
            return Launch(None, [], [], float(timeout))
        lines = p.stderr.splitlines()
        exits = [int(l.rsplit(" ", 1)[1]) for l in lines if l.startswith("zoptimus-test rank")]
        other = [l for l in lines if not l.startswith("zoptimus-test rank") and l.strip()]
        return Launch(p, other, exits, time.monotonic() - start)

    def run(self, ranks, *argv, timeout=300):
        """Runs zoptimus and requires success; returns its stdout."""
        cmd = self.command(ranks, list(argv))
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env)
        if p.returncode != 0:
            print(p.stdout, p.stderr)
            sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}")
        return p.stdout


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, details=()):
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
        for d in details if not ok else ():
            print(f"       {d}")
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
