#!/usr/bin/env python3
"""Make a zoptimus token dataset with a model's own tokenizer (Hugging Face `tokenizers`).

    scripts/make_dataset.py --model MODEL_DIR --seq-len 64 --out lm.h5 train.txt \\
        [--validation valid.txt [--test test.txt] | --validation-fraction 0.1]
    scripts/make_dataset.py --model MODEL_DIR --task classification --seq-len 64 \\
        --template "{text} It was" --labels negative,positive --label-words " terrible| great" \\
        --out cls.h5 train.tsv [--validation dev.tsv]

MODEL_DIR holds tokenizer.json (or vocab.json + merges.txt, GPT-2 byte-level BPE as OPT).
LM: text files, a blank line between documents; each document is BOS + ids + EOS (one
separator when BOS = EOS, as in OPT), the stream is cut into rows of --seq-len, the last
padded with PAD. Classification: TSV files `text<TAB>label`; row = BOS + ids of the template
with {text} replaced (cut from the left to fit, so the template's end stays), the label word
is predicted after the last prompt token (MeZO-style); each label word must be one token.

The ids are written as raw int32 rows and handed to `zoptimus data --tokens`, the one writer
of the dataset format; the file records the tokenizer's fingerprint (hf:...), vocab and
special ids, which `zoptimus train/eval` check against the model (model.tokenizer).
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoptimus_hf import (HfInputError, load_tokenizer, special_ids,  # noqa: E402
                         tokenizer_fingerprint, tokenizer_vocab)

REPO = Path(__file__).resolve().parent.parent


def read_text(path):
    path = Path(path)
    if not path.is_file():
        raise HfInputError(f"input file '{path}': no such file")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise HfInputError(f"input file '{path}': not UTF-8 text ({e.reason} at byte {e.start})")


def read_documents(path):
    """Paragraphs separated by blank lines, lines joined with '\\n' (as `zoptimus data`)."""
    docs, current = [], []
    for line in read_text(path).splitlines():
        if line.strip():
            current.append(line)
        elif current:
            docs.append("\n".join(current))
            current = []
    if current:
        docs.append("\n".join(current))
    if not docs:
        raise HfInputError(f"input file '{path}' holds no text")
    return docs


def read_examples(path):
    """(text, label, "file:line") of `text<TAB>label` lines (split at the last tab)."""
    out = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        if "\t" not in line:
            raise HfInputError(f"{where}: expected text<TAB>label, found no tab")
        text, label = line.rsplit("\t", 1)
        if not text.strip():
            raise HfInputError(f"{where}: empty text")
        out.append((text, label.strip(), where))
    if not out:
        raise HfInputError(f"input file '{path}' holds no examples (text<TAB>label lines)")
    return out


def encode(tok, text):
    return tok.encode(text, add_special_tokens=False).ids


def lm_rows(tok, ids, docs, seq_len):
    """[N, seq_len] int32 rows of the documents' token stream."""
    bos, eos, pad = ids["bos"], ids["eos"], ids["pad"]
    stream = []
    for doc in docs:
        # OPT's BOS and EOS are the same token: one separator between documents.
        if bos >= 0 and not (bos == eos and stream and stream[-1] == eos):
            stream.append(bos)
        stream.extend(encode(tok, doc))
        if eos >= 0:
            stream.append(eos)
    rows = -(-len(stream) // seq_len)
    stream += [pad] * (rows * seq_len - len(stream))
    return np.asarray(stream, dtype="<i4").reshape(rows, seq_len)


def label_word_ids(tok, words):
    """The single token id of each label word; an error naming the pieces otherwise."""
    out = []
    for w in words:
        enc = tok.encode(w, add_special_tokens=False)
        if len(enc.ids) != 1:
            pieces = " ".join(repr(t) for t in enc.tokens) or "nothing"
            raise HfInputError(
                f"label word {w!r} is {len(enc.ids)} tokens of this tokenizer ({pieces}); each "
                "label word must be exactly one token (try it with or without a leading space, "
                "or pick another word)")
        out.append(enc.ids[0])
    if len(set(out)) != len(out):
        raise HfInputError(f"label words {words!r} map to the same token; they must differ")
    return out


def classification_rows(tok, ids, examples, labels, template, seq_len):
    """[N, seq_len + 2] int32: prompt ids (BOS first, PAD after), last_pos, label index."""
    bos, pad = ids["bos"], ids["pad"]
    rows = np.full((len(examples), seq_len + 2), pad, dtype="<i4")
    head = [bos] if bos >= 0 else []
    for i, (text, label, where) in enumerate(examples):
        if label not in labels:
            raise HfInputError(f"{where}: unknown label '{label}' (expected one of: "
                               f"{', '.join(labels)})")
        prompt = encode(tok, template.replace("{text}", text))
        if not prompt:
            raise HfInputError(f"{where}: the prompt has no tokens")
        keep = seq_len - len(head)
        row = head + prompt[-keep:]  # too long: the start of the text goes, the template stays
        rows[i, :len(row)] = row
        rows[i, seq_len] = len(row) - 1
        rows[i, seq_len + 1] = labels.index(label)
    return rows


def default_zoptimus():
    return os.environ.get("ZOPTIMUS") or str(REPO / "build" / "bin" / "zoptimus")


def make_dataset(a):
    if a.seq_len < 2:
        raise HfInputError(f"--seq-len {a.seq_len}: must be at least 2")
    if a.test and not a.validation:
        raise HfInputError("--test FILE needs --validation FILE too")
    if a.validation and a.validation_fraction is not None:
        raise HfInputError("--validation FILE and --validation-fraction exclude each other")
    classify = a.task == "classification"
    if classify and not (a.labels and a.label_words and a.template):
        raise HfInputError("--task classification needs --labels, --label-words and --template, e.g. "
                           "--template '{text} It was' --labels negative,positive "
                           "--label-words ' terrible| great'")
    if not classify and (a.labels or a.label_words or a.template):
        raise HfInputError("--labels, --label-words and --template are for --task classification")
    if classify and "{text}" not in a.template:
        raise HfInputError(f"--template {a.template!r} has no {{text}}")
    out = Path(a.out)
    if out.exists() and not a.force:
        raise HfInputError(f"output file '{out}' exists; refusing to overwrite it (pass --force)")

    tok = load_tokenizer(a.model)
    ids = special_ids(tok, a.model)
    for k in ("bos", "eos", "pad"):
        if getattr(a, k) is not None:
            ids[k] = getattr(a, k)
    if ids["pad"] < 0:
        raise HfInputError(f"{a.model}: the tokenizer has no pad (or eos) token; give --pad ID")
    vocab = tokenizer_vocab(tok)
    name = tokenizer_fingerprint(tok)

    cmd = [a.zoptimus, "data", "--tokens", "--task", a.task, "--seq-len", str(a.seq_len),
           "--vocab", str(vocab), "--tokenizer", name, "--bos", str(ids["bos"]),
           "--eos", str(ids["eos"]), "--pad", str(ids["pad"]), "--out", str(out)]
    if a.force:
        cmd.append("--force")
    if classify:
        labels = [s.strip() for s in a.labels.split(",")]
        words = a.label_words.split("|")
        if len(words) != len(labels):
            raise HfInputError(f"--label-words gives {len(words)} words for {len(labels)} labels "
                               "(separate the words with '|'; spaces are kept)")
        word_ids = label_word_ids(tok, words)
        cmd += ["--labels", ",".join(labels), "--label-words", ",".join(map(str, word_ids))]

    def rows_of(paths):
        if classify:
            ex = [e for p in paths for e in read_examples(p)]
            return classification_rows(tok, ids, ex, labels, a.template, a.seq_len)
        return lm_rows(tok, ids, [d for p in paths for d in read_documents(p)], a.seq_len)

    with tempfile.TemporaryDirectory(prefix="zoptimus-data-") as tmp:
        def dump(paths, role):
            f = Path(tmp) / f"{role}.i32"
            rows_of(paths).tofile(f)
            return str(f)
        inputs = [dump(a.inputs, "train")]
        if a.validation:
            cmd += ["--validation", dump(a.validation, "validation")]
        if a.test:
            cmd += ["--test", dump(a.test, "test")]
        if a.validation_fraction is not None:
            cmd += ["--validation-fraction", str(a.validation_fraction)]
        cmd += inputs
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise HfInputError(f"cannot run {a.zoptimus} ({e}); build zoptimus or pass --zoptimus")
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise HfInputError(msg[-1] if msg else f"zoptimus data failed (exit {r.returncode})")
    summary = [l for l in r.stdout.splitlines() if l.startswith("data:")]
    return (summary[-1] if summary else r.stdout.strip()) + (
        f" bos={ids['bos']} eos={ids['eos']} pad={ids['pad']}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="folder with tokenizer.json (or vocab.json + merges.txt)")
    ap.add_argument("--task", choices=("lm", "classification"), default="lm")
    ap.add_argument("--seq-len", type=int, default=64, help="tokens per row (= data.seq_len)")
    ap.add_argument("--out", required=True, help="dataset to write (.h5)")
    ap.add_argument("--validation", action="append", metavar="FILE",
                    help="a file of the /validation split (repeat for more)")
    ap.add_argument("--test", action="append", metavar="FILE", help="a file of the /test split (repeat)")
    ap.add_argument("--validation-fraction", type=float,
                    help="without --validation: fraction of rows held out (zoptimus data's default 0.1)")
    ap.add_argument("--template", help="classification prompt with {text}, e.g. '{text} It was'")
    ap.add_argument("--labels", help="classification: label names as in the TSV, comma-separated")
    ap.add_argument("--label-words", help="classification: one word per label, '|'-separated, "
                    "spaces kept (e.g. ' terrible| great'); each must be one token")
    ap.add_argument("--bos", type=int, help="override the BOS id (-1: none)")
    ap.add_argument("--eos", type=int, help="override the EOS id (-1: none)")
    ap.add_argument("--pad", type=int, help="override the PAD id")
    ap.add_argument("--zoptimus", default=default_zoptimus(), help="the zoptimus binary")
    ap.add_argument("--force", action="store_true", help="replace an existing output file")
    ap.add_argument("inputs", nargs="+", help="lm: text files; classification: TSV files")
    a = ap.parse_args(argv)
    try:
        print(make_dataset(a))
    except (HfInputError, OSError) as e:
        print(f"make_dataset: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
