#!/usr/bin/env python3
"""`zoptimus data` on N ranks: builds LM and classification datasets (one summary line, every
rank exits 0), refuses to overwrite, turns bad input into one error line and a non-zero exit
on every rank, writes files that h5py and `h5dump -H` read, and `zoptimus eval` runs on them.
"""
import argparse
import re
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
args = parser.parse_args()

INPUTS = Path(args.inputs)
tmp = Path(tempfile.mkdtemp(prefix="zoptimus-data-cli-"))
SUMMARY = re.compile(r"^data: task=(\w+) train=(\d+) validation=(\d+)(?: test=\d+)? seq_len=(\d+) "
                     r"tokenizer=bytes-v1 vocab=260 file=(.+)$")
ANY_SUMMARY = re.compile(r"^data: task=(\w+) train=(\d+) validation=(\d+)(?: test=(\d+))? seq_len=(\d+) "
                         r"tokenizer=(\S+) vocab=(\d+) file=(.+)$")

launcher = Launcher(args)
tally = Tally()


def eval_check_tokens(want):
    def check(out):
        last = out[-1] if out else ""
        m = re.match(r"^eval: loss=\d+\.\d+ tokens=(\d+) ", last)
        return [] if m and int(m.group(1)) == want else [f"last line {last!r}, expected tokens={want}"]
    return check


def report(name, problems):
    tally.check(name, not problems, problems)


def launch(argv, ranks=None):
    run = launcher.launch(ranks or args.ranks, argv)
    if run.proc is None:
        return None, [], [], []
    return run.proc, run.proc.stdout.splitlines(), run.other, run.exits


def expect_success(name, argv, check=None):
    p, out, errors, exits = launch(argv)
    problems = []
    if p is None:
        problems.append("hung (killed after 120 s)")
    else:
        if len(exits) != args.ranks or any(exits):
            problems.append(f"rank exits {exits}, expected {args.ranks} zeros")
        if errors:
            problems.append(f"stderr: {errors}")
        if check:
            problems += check(out)
    report(name, problems)
    return out


def expect_failure(name, argv, fragment, must_not_exist=None):
    p, out, errors, exits = launch(argv)
    problems = []
    if p is None:
        problems.append("hung (killed after 120 s)")
    else:
        if len(exits) != args.ranks or any(e != 1 for e in exits):
            problems.append(f"rank exits {exits}, expected {args.ranks} x 1")
        lines = [l for l in errors if "error" in l]
        if len(lines) != 1:
            problems.append(f"{len(lines)} error lines, expected 1: {errors}")
        elif fragment not in lines[0]:
            problems.append(f"error line lacks '{fragment}': {lines[0]}")
        if any(SUMMARY.match(l) for l in out):
            problems.append("printed a summary line")
    if must_not_exist and Path(must_not_exist).exists():
        problems.append(f"{must_not_exist} was created")
    shown = f": {lines[0]}" if p is not None and len(lines) == 1 else ""
    report(name + shown, problems)


def summary_check(task, seq_len, path):
    def check(out):
        lines = [l for l in out if l.startswith("data:")]
        if len(lines) != 1:
            return [f"{len(lines)} summary lines, expected 1: {out}"]
        m = SUMMARY.match(lines[0])
        if not m:
            return [f"summary line malformed: {lines[0]}"]
        problems = []
        if m.group(1) != task or int(m.group(4)) != seq_len or m.group(5) != str(path):
            problems.append(f"summary says {lines[0]}")
        if int(m.group(2)) < 1 or int(m.group(3)) < 1:
            problems.append(f"empty split: {lines[0]}")
        return problems
    return check


def h5_checks(path, task, seq_len):
    problems = []
    with h5py.File(path, "r") as f:
        a = f.attrs
        want = {"format": "zoptimus-tokens", "format_version": 1, "task": task,
                "tokenizer": "bytes-v1", "vocab": 260, "seq_len": seq_len, "pad_id": 258}
        for k, v in want.items():
            got = a.get(k)
            got = got.decode() if isinstance(got, bytes) else got
            if got != v:
                problems.append(f"attribute {k} = {got!r}, expected {v!r}")
        if a["format_version"].dtype != np.int64:
            problems.append(f"format_version dtype {a['format_version'].dtype}")
        for split in ("train", "validation"):
            t = f[split]["tokens"]
            if t.dtype != np.int32 or t.ndim != 2 or t.shape[1] != seq_len or t.shape[0] < 1:
                problems.append(f"/{split}/tokens {t.dtype} {t.shape}")
                continue
            tok = t[...]
            if tok.min() < 0 or tok.max() >= 260:
                problems.append(f"/{split}/tokens outside [0, 260)")
            if task == "classification":
                labels, last = f[split]["labels"][...], f[split]["last_pos"][...]
                if labels.shape != (tok.shape[0],) or labels.dtype != np.int32:
                    problems.append(f"/{split}/labels {labels.dtype} {labels.shape}")
                if not (tok[:, 0] == 256).all():
                    problems.append(f"/{split}: rows do not start with BOS")
                if not ((last >= 1) & (last < seq_len)).all():
                    problems.append(f"/{split}/last_pos out of range")
        if task == "lm" and f["train"]["tokens"][0, 0] != 256:
            problems.append("first LM window does not start with BOS")
        if task == "classification":
            lw = list(f["label_words"][...])
            if lw != [ord("n"), ord("p")]:
                problems.append(f"label_words = {lw}, expected [110, 112]")
    h5dump = shutil.which("h5dump")
    if h5dump:
        p = subprocess.run([h5dump, "-H", str(path)], capture_output=True, text=True)
        if p.returncode != 0 or "zoptimus" in p.stderr:
            problems.append(f"h5dump -H failed: {p.stderr[-300:]}")
    else:
        print("       (h5dump not found: skipped the h5dump -H check)")
    return problems


lm = tmp / "lm.h5"
cls = tmp / "cls.h5"
corpus = INPUTS / "data" / "demo_corpus.txt"
tsv = INPUTS / "data" / "demo_cls.tsv"

expect_success("lm dataset", ["data", "--task", "lm", "--seq-len", "32", "--validation-fraction", "0.1",
                              "--out", str(lm), str(corpus)], summary_check("lm", 32, lm))
report("lm file: h5py attributes, dtypes, shapes; h5dump -H", h5_checks(lm, "lm", 32) if lm.exists() else ["no file"])
expect_success("classification dataset",
               ["data", "--task", "classification", "--seq-len", "32", "--labels", "negative,positive",
                "--out", str(cls), str(tsv)], summary_check("classification", 32, cls))
report("classification file: h5py attributes, dtypes, shapes; h5dump -H",
       h5_checks(cls, "classification", 32) if cls.exists() else ["no file"])

before = lm.read_bytes() if lm.exists() else b""
expect_failure("refuses to overwrite", ["data", "--seq-len", "16", "--out", str(lm), str(corpus)],
               "refusing to overwrite")
report("existing file left unchanged", [] if lm.exists() and lm.read_bytes() == before else ["changed"])
forced = tmp / "forced.h5"
forced.write_text("old")
expect_success("--force replaces", ["data", "--seq-len", "16", "--force", "--out", str(forced), str(corpus)],
               summary_check("lm", 16, forced))

raw = tmp / "tokens.i32"
rows = (np.arange(10 * 16, dtype="<i4").reshape(10, 16) * 7) % 260
rows.tofile(raw)
from_tokens = tmp / "tokens.h5"
expect_success("lm dataset from raw int32 tokens (--tokens)",
               ["data", "--tokens", "--seq-len", "16", "--validation-fraction", "0.2",
                "--out", str(from_tokens), str(raw)], summary_check("lm", 16, from_tokens))
if from_tokens.exists():
    with h5py.File(from_tokens, "r") as f:
        got = np.concatenate([f["train"]["tokens"][...], f["validation"]["tokens"][...]])
    same = sorted(map(tuple, got.tolist())) == sorted(map(tuple, rows.tolist()))
    report("--tokens rows stored as given", [] if same and len(got) == 10 else ["rows differ"])
(tmp / "short.i32").write_bytes(b"\x01\x00\x00\x00" * 5)

# Ids of another tokenizer (here a 50272-id vocabulary, as OPT's): --tokens with the vocab,
# name and special ids on the command line; --validation/--test files are those splits as given.
V = 50272
rng = np.random.default_rng(5)
splits = {"train": rng.integers(0, V, (9, 16)), "validation": rng.integers(0, V, (5, 16)),
          "test": rng.integers(0, V, (3, 16))}
splits["validation"][1, 10:] = 1  # PAD = 1: no next-token targets there
for name, a in splits.items():
    a.astype("<i4").tofile(tmp / f"{name}_big.i32")
big = tmp / "big.h5"
TOKEN_FLAGS = ["--tokens", "--vocab", str(V), "--tokenizer", "hf:test", "--bos", "2", "--eos", "2",
               "--pad", "1", "--seq-len", "16"]


def big_summary(out):
    m = [ANY_SUMMARY.match(l) for l in out if l.startswith("data:")]
    ok = len(m) == 1 and m[0] and m[0].groups()[1:7] == ("9", "5", "3", "16", "hf:test", str(V))
    return [] if ok else [f"summary: {out}"]


expect_success("--tokens with --vocab 50272, --validation and --test files",
               ["data"] + TOKEN_FLAGS + ["--out", str(big), "--validation", str(tmp / "validation_big.i32"),
                                         "--test", str(tmp / "test_big.i32"), str(tmp / "train_big.i32")],
               big_summary)
if big.exists():
    with h5py.File(big, "r") as f:
        problems = [f"/{n}/tokens differ" for n, a in splits.items()
                    if not np.array_equal(f[n]["tokens"][...], a)]
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        for k, want in (("tokenizer", "hf:test"), ("vocab", V), ("bos_id", 2), ("eos_id", 2), ("pad_id", 1)):
            if attrs.get(k) != want:
                problems.append(f"attribute {k} = {attrs.get(k)!r}, expected {want!r}")
    report("--tokens splits stored as given; tokenizer, vocab and special ids recorded", problems)
    # Eval of the /test split scores every target of it: an independent count of the
    # next-token targets (next token not PAD, not past the row's end).
    deck_big = ["--", "model.vocab=50272", "model.hidden=8", "model.heads=2", "model.layers=1",
                "model.ffn=16", "model.max_positions=16", "data.seq_len=16", "data.batch=2"]
    for split in ("validation", "test"):
        a = splits[split]
        want = int((a[:, 1:] != 1).sum())
        expect_success(f"eval data.eval_split={split} scores the whole split ({want} tokens)",
                       ["eval", str(INPUTS / "tiny.toml"), f"data.path={big}", f"data.eval_split={split}"]
                       + deck_big[1:],
                       eval_check_tokens(want))
    expect_failure("a dataset of another tokenizer than model.tokenizer is refused",
                   ["eval", str(INPUTS / "tiny.toml"), f"data.path={big}", "model.tokenizer=hf:other"]
                   + deck_big[1:], 'tokenizer = "hf:test" but the model uses model.tokenizer = "hf:other"')
    expect_failure("a dataset whose vocab exceeds model.vocab is refused",
                   ["eval", str(INPUTS / "tiny.toml"), f"data.path={big}"] + deck_big[2:],
                   "vocab = 50272 does not fit the model")

cls_rows = np.zeros((6, 18), dtype="<i4")
cls_rows[:, :16] = rng.integers(3, V, (6, 16))
cls_rows[:, 16] = [3, 15, 0, 7, 9, 1]   # last_pos
cls_rows[:, 17] = [0, 1, 1, 0, 1, 0]    # label index
cls_rows.tofile(tmp / "cls_big.i32")
cls_big = tmp / "cls_big.h5"
expect_success("--tokens classification rows (ids, last_pos, label) with --label-words ids",
               ["data"] + TOKEN_FLAGS + ["--task", "classification", "--labels", "negative,positive",
                                         "--label-words", "40000,50000", "--validation-fraction", "0.5",
                                         "--out", str(cls_big), str(tmp / "cls_big.i32")])
if cls_big.exists():
    with h5py.File(cls_big, "r") as f:
        got = np.concatenate([np.concatenate([f[s]["tokens"][...], f[s]["last_pos"][...][:, None],
                                              f[s]["labels"][...][:, None]], axis=1)
                              for s in ("train", "validation")])
        words = f["label_words"][...].tolist()
    same = sorted(map(tuple, got.tolist())) == sorted(map(tuple, cls_rows.tolist()))
    report("classification rows and label words stored as given",
           [] if same and words == [40000, 50000] else [f"rows differ or label words {words}"])
cls_bad = cls_rows.copy()
cls_bad[2, 17] = 2
cls_bad.tofile(tmp / "cls_bad.i32")
big_bad = rng.integers(0, V + 1, (4, 16)).astype("<i4")
big_bad[0, 3] = V
big_bad.tofile(tmp / "big_bad.i32")

empty = tmp / "empty.txt"
empty.write_text("  \n\n\t\n")
notab = tmp / "notab.tsv"
notab.write_text("good movie\tpositive\nno tab here\n")
unknown = tmp / "unknown.tsv"
unknown.write_text("good movie\tpositive\nso so\tneutral\n")
bad = tmp / "bad.h5"
CASES = [
    ("missing input file", ["data", "--out", str(bad), str(tmp / "nope.txt")], "nope.txt': no such file"),
    ("empty text", ["data", "--out", str(bad), str(empty)], "holds no text"),
    ("seq_len < 2", ["data", "--seq-len", "1", "--out", str(bad), str(corpus)], "--seq-len 1"),
    ("unknown label", ["data", "--task", "classification", "--labels", "negative,positive",
                       "--out", str(bad), str(unknown)], "unknown.tsv:2: unknown label 'neutral'"),
    ("duplicate label initials", ["data", "--task", "classification", "--labels", "negative,neutral",
                                  "--out", str(bad), str(tsv)], "share the initial 'n'"),
    ("TSV line without a tab", ["data", "--task", "classification", "--labels", "negative,positive",
                                "--out", str(bad), str(notab)], "notab.tsv:2: expected text<TAB>label"),
    ("classification without --labels", ["data", "--task", "classification", "--out", str(bad), str(tsv)],
     "needs --labels"),
    ("bad validation fraction", ["data", "--validation-fraction", "1.5", "--out", str(bad), str(corpus)],
     "--validation-fraction 1.5"),
    ("unknown task", ["data", "--task", "chat", "--out", str(bad), str(corpus)], "--task"),
    ("missing --out", ["data", str(corpus)], "--out is required"),
    ("token file not whole rows", ["data", "--tokens", "--seq-len", "16", "--out", str(bad),
                                   str(tmp / "short.i32")], "not a whole number of int32 rows"),
    ("--tokens id >= --vocab", ["data"] + TOKEN_FLAGS + ["--out", str(bad), str(tmp / "big_bad.i32")],
     f"token {V} at row 0, position 3 outside [0, --vocab {V})"),
    ("--tokens label index >= labels", ["data"] + TOKEN_FLAGS + [
        "--task", "classification", "--labels", "negative,positive", "--label-words", "4,5",
        "--out", str(bad), str(tmp / "cls_bad.i32")], "row 2: label 2 outside [0, 2 labels)"),
    ("--tokens classification without --label-words", ["data"] + TOKEN_FLAGS + [
        "--task", "classification", "--labels", "negative,positive", "--out", str(bad),
        str(tmp / "cls_big.i32")], "needs --label-words"),
    ("--pad outside the vocab", ["data", "--tokens", "--vocab", "100", "--pad", "100", "--seq-len", "16",
                                 "--out", str(bad), str(raw)], "--pad 100: outside [0, --vocab 100)"),
    ("--validation with --validation-fraction", ["data", "--validation", str(corpus),
                                                 "--validation-fraction", "0.2", "--out", str(bad),
                                                 str(corpus)], "exclude each other"),
    ("--test without --validation", ["data", "--test", str(corpus), "--out", str(bad), str(corpus)],
     "--test FILE needs --validation FILE"),
]
for name, argv, fragment in CASES:
    expect_failure(name, argv, fragment, must_not_exist=bad)


def eval_check(pattern):
    def check(out):
        last = out[-1] if out else ""
        return [] if re.match(pattern, last) else [f"last line: {last!r}"]
    return check


deck = str(INPUTS / "demo.toml")
expect_success(f"eval demo.toml on the lm dataset ({args.ranks} ranks)",
               ["eval", deck, f"data.path={lm}"], eval_check(r"^eval: loss=\d+\.\d+ tokens=\d+ "))
expect_success(f"eval demo.toml on the classification dataset ({args.ranks} ranks)",
               ["eval", deck, f"data.path={cls}", "data.task=classification"],
               eval_check(r"^eval: loss=\d+\.\d+ sequences=\d+ accuracy="))
for shipped in ("demo_lm.h5", "demo_cls.h5"):
    path = INPUTS / "data" / shipped
    size = path.stat().st_size if path.exists() else 0
    report(f"shipped {shipped} exists and is small ({size} bytes)",
           [] if 0 < size < 200_000 else ["missing or too large"])
expect_success("eval demo.toml on the shipped demo_lm.h5",
               ["eval", deck, f"data.path={INPUTS / 'data' / 'demo_lm.h5'}"],
               eval_check(r"^eval: loss=\d+\.\d+ tokens=\d+ "))
expect_failure("eval rejects a dataset of another seq_len",
               ["eval", deck, f"data.path={forced}"], "seq_len = 16 but data.seq_len = 32")

shutil.rmtree(tmp, ignore_errors=True)
tally.finish()
