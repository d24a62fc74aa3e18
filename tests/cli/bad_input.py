#!/usr/bin/env python3
"""Bad input on N ranks: each malformed deck or override must end the run with a non-zero
exit on every rank, one error line naming the problem, within a few seconds (no hang).

A valid deck run first shows that the failures come from the bad input, not the launcher.
"""
import argparse
import tempfile
from pathlib import Path

from cli_support import Launcher, Tally, add_launcher_arguments

parser = argparse.ArgumentParser()
add_launcher_arguments(parser)
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
    ("n_perturb not divisible by pp", ["train", TINY, "parallel.pp=3", "optim.n_perturb=4"],
     "optim.n_perturb = 4 is not divisible by parallel.pp = 3"),
    ("pp does not divide ranks", ["train", TINY, "parallel.pp=3", "optim.n_perturb=3"],
     "parallel.pp = 3 perturbation groups"),
    ("ranks != dp*pp*q*q", ["train", TINY, "parallel.pp=2", "parallel.q=2", "optim.n_perturb=2"],
     "parallel.dp * parallel.q^2 * parallel.pp = 1 * 2^2 * 2 = 8"),
    ("sequence longer than positions", ["train", TINY, "data.seq_len=17"], "data.seq_len = 17"),
    ("override without =", ["train", TINY, "optim.lr"], "key=value"),
    ("override unknown key", ["train", TINY, "optim.learning_rate=1"], "unknown key 'optim.learning_rate'"),
    ("override bad value", ["train", TINY, "optim.lr=abc"], "optim.lr"),
    ("bad choice", ["train", TINY, "optim.method=adam"], "optim.method"),
    ("sparsity out of range", ["train", TINY, "optim.sparsity=1.5"], "optim.sparsity"),
    ("q with 1D mode", ["train", TINY, "parallel.mode=1d", "parallel.q=2"], "parallel.q"),
    ("nccl in a host build", ["train", TINY, "parallel.collectives=nccl"],
     'parallel.collectives = "nccl" is not available in this build'),
    ("cuda-aware MPI in a host build", ["train", TINY, "parallel.collectives=cuda-aware-mpi"],
     'parallel.collectives = "cuda-aware-mpi" is not available in this build'),
    # Every subcommand refuses an override it would ignore.
    ("eval given a training key", ["eval", TINY, "optim.lr=1e-3"], "zoptimus eval does not use optim.lr"),
    ("eval given run.steps", ["eval", TINY, "run.steps=7"], "zoptimus eval does not use run.steps"),
    ("bench ckpt given a training key", ["bench", "ckpt", TINY, "run.steps=3"],
     "zoptimus bench ckpt does not use run.steps"),
    ("bench mesh given a data key", ["bench", "mesh", TINY, "data.batch=8"],
     "zoptimus bench mesh does not use data.batch"),
    # Messages a new user meets.
    ("misspelt subcommand", ["trian", TINY], "unknown subcommand 'trian' (did you mean 'train'?)"),
    ("override with a line break", ["train", TINY, "optim.lr=1e-3\n[model]\nhidden = 0"],
     "override 'optim.lr=1e-3\\n[model]\\nhidden = 0' holds a line break"),
    ("data.path is a directory", ["train", TINY, f"data.path={tmp}"], "is a directory"),
    ("data --out is a directory", ["data", "--task", "lm", "--seq-len", "8", "--force", "--out", str(tmp),
                                   str(Path(args.inputs) / "data" / "demo_corpus.txt")], "is a directory"),
    # Decks that are not a page of text; output locations checked before any work.
    ("deck is a directory", ["train", str(tmp)], "is a directory, expected a TOML file"),
    ("deck is /dev/zero", ["train", "/dev/zero"], "is larger than 1024 KiB"),
    ("io.out_dir is a file", ["train", TINY, f"io.out_dir={TINY}"], "is a file, expected a directory"),
    # Integers are range-checked in 64 bits before narrowing (no wrap to 4 or 1).
    ("steps past 32 bits", ["train", TINY, "run.steps=4294967300"], "key 'run.steps' = 4294967300 is invalid"),
    ("steps far past 32 bits", ["train", TINY, "run.steps=99999999999"], "key 'run.steps' = 99999999999 is invalid"),
    ("checkpoint_every past 32 bits", ["train", TINY, "io.checkpoint_every=4294967297"],
     "key 'io.checkpoint_every' = 4294967297 is invalid"),
]

launcher = Launcher(args)
tally = Tally()
run = launcher.launch(args.ranks, ["bench", "mesh", TINY])
ok = run.proc is not None and len(run.exits) == args.ranks and all(e == 0 for e in run.exits)
tally.check(f"valid deck runs (exits {run.exits}, {run.seconds:.1f}s)", ok,
            [run.proc.stdout, run.proc.stderr] if run.proc else [])

for name, argv, fragment in CASES:
    run = launcher.launch(args.ranks, argv)
    problems = []
    if run.proc is None:
        problems.append("hung (killed after 120 s)")
    else:
        if len(run.exits) != args.ranks or any(e == 0 for e in run.exits):
            problems.append(f"rank exits {run.exits}, expected {args.ranks} non-zero")
        if len(run.errors) != 1:
            problems.append(f"{len(run.errors)} error lines, expected 1: {run.other}")
        elif fragment not in run.errors[0]:
            problems.append(f"error line lacks '{fragment}': {run.errors[0]}")
        if run.seconds > args.time_limit:
            problems.append(f"took {run.seconds:.1f}s > {args.time_limit}s")
    shown = run.other[0] if run.other else ""
    tally.check(f"{name}: {shown} ({run.seconds:.1f}s)", not problems, problems)
tally.finish()
