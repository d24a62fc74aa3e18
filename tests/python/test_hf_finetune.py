"""Datasets made with a model's own tokenizer (scripts/make_dataset.py, Hugging Face
`tokenizers`) and the Hugging Face round trip checked by `transformers`.

- Known ids: a GPT-2-style byte-level BPE given as vocab.json + merges.txt written here by
  hand, whose ids for a text are worked out by hand; the dataset rows must be exactly those.
- A tokenizer trained here with the library's BpeTrainer: classification rows (template,
  BOS, left truncation, last_pos, label) against rows built independently from its encode(),
  and label words that are not one token are refused with the pieces named.
- An OPT model built by transformers (random, seeded), saved in HF layout, imported, scored by
  `zoptimus eval` (zero shot), trained 3 steps, scored again from the checkpoint, exported;
  transformers' loss on the export equals zoptimus's (LM and classification).
Needs ZOPTIMUS (the binary); CTest sets it.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def zoptimus():
    path = os.environ.get("ZOPTIMUS")
    if not path or not Path(path).exists():
        pytest.skip("ZOPTIMUS (path of the zoptimus binary) is not set")
    return str(Path(path).resolve())


def script(name, *args, check=True):
    p = subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, ZOPTIMUS=zoptimus()))
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def run_zoptimus(*args, cwd=None):
    p = subprocess.run([zoptimus(), *map(str, args)], capture_output=True, text=True, timeout=300,
                       cwd=cwd)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def hand_bpe(folder):
    """Byte-level BPE by hand: 'ab' = 8, 'Ġab' = 9 (Ġ is the space byte), 'Ġ' = 7, 'c' = 6."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a": 4, "b": 5, "c": 6, "\u0120": 7,
             "ab": 8, "\u0120ab": 9}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\na b\n\u0120 ab\n")
    (folder / "config.json").write_text(json.dumps({"bos_token_id": 2, "eos_token_id": 2,
                                                    "pad_token_id": 1}))


def test_lm_rows_from_known_ids(tmp_path):
    hand_bpe(tmp_path / "m")
    (tmp_path / "train.txt").write_text("ab ab c\n\nc\n")
    (tmp_path / "valid.txt").write_text("ab\n")
    (tmp_path / "test.txt").write_text("c ab\n")
    out = tmp_path / "d.h5"
    p = script("make_dataset.py", "--model", tmp_path / "m", "--seq-len", 4, "--out", out,
               "--validation", tmp_path / "valid.txt", "--test", tmp_path / "test.txt",
               tmp_path / "train.txt")
    assert "train=2 validation=1 test=1" in p.stdout and "vocab=10" in p.stdout
    with h5py.File(out, "r") as f:
        # BOS=EOS=2 once between documents: 2 [ab Ġab Ġ c] 2 [c] 2, rows of 4.
        assert f["train/tokens"][...].tolist() == [[2, 8, 9, 7], [6, 2, 6, 2]]
        assert f["validation/tokens"][...].tolist() == [[2, 8, 2, 1]]
        assert f["test/tokens"][...].tolist() == [[2, 6, 9, 2]]
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    assert (a["vocab"], a["bos_id"], a["eos_id"], a["pad_id"]) == (10, 2, 2, 1)
    assert re.fullmatch(r"hf:[0-9a-f]{16}", a["tokenizer"])


def trained_tokenizer(folder):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    text = ["the film was great and it was great", "the soup was terrible, it was terrible",
            "a great day", "a terrible night"] * 20
    tok.train_from_iterator(text, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.save(str(folder / "tokenizer.json"))
    return tok


def test_classification_rows_and_label_words(tmp_path):
    tok = trained_tokenizer(tmp_path / "m")
    lines = ["the film was fun\tpositive", "the soup was cold and the night was long and bad\tnegative"]
    (tmp_path / "t.tsv").write_text("\n".join(lines) + "\n")
    seq = 12
    base = ["--model", tmp_path / "m", "--task", "classification", "--seq-len", seq,
            "--template", "{text} It was", "--labels", "negative,positive", "--validation-fraction", 0.5]
    out = tmp_path / "c.h5"
    script("make_dataset.py", *base, "--label-words", " terrible| great", "--out", out, tmp_path / "t.tsv")
    bos = tok.token_to_id("<s>")
    pad = tok.token_to_id("<pad>")
    want = {}
    for line in lines:
        text, label = line.split("\t")
        ids = tok.encode(text + " It was", add_special_tokens=False).ids
        row = [bos] + ids[-(seq - 1):]
        want[tuple(row + [pad] * (seq - len(row)))] = (len(row) - 1, ["negative", "positive"].index(label))
    got = {}
    with h5py.File(out, "r") as f:
        for s in ("train", "validation"):
            for t, l, y in zip(f[s]["tokens"][...], f[s]["last_pos"][...], f[s]["labels"][...]):
                got[tuple(t.tolist())] = (int(l), int(y))
        words = f["label_words"][...].tolist()
    assert got == want
    assert words == [tok.token_to_id("\u0120terrible"), tok.token_to_id("\u0120great")]
    # A word that is several tokens, and a word list of the wrong length.
    p = script("make_dataset.py", *base, "--label-words", " terrible| wonderful", "--out", out,
               "--force", tmp_path / "t.tsv", check=False)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1, p.stderr
    assert "label word ' wonderful' is" in lines[0] and "must be exactly one token" in lines[0]
    p = script("make_dataset.py", *base, "--label-words", " great", "--out", out, "--force",
               tmp_path / "t.tsv", check=False)
    assert p.returncode == 1 and "gives 1 words for 2 labels" in p.stderr


def tiny_opt(folder, vocab):
    import torch
    from transformers import OPTConfig, OPTForCausalLM
    torch.manual_seed(0)
    cfg = OPTConfig(vocab_size=vocab, hidden_size=16, num_attention_heads=2, num_hidden_layers=2,
                    ffn_dim=32, max_position_embeddings=16, word_embed_proj_dim=16,
                    pad_token_id=1, bos_token_id=0, eos_token_id=2, init_std=0.3)
    model = OPTForCausalLM(cfg)
    model.save_pretrained(folder, safe_serialization=True)


def score(line, pattern=r"loss=(\d+\.\d+)"):
    return float(re.search(pattern, line).group(1))


def test_transformers_loss_equals_zoptimus_on_the_export(tmp_path):
    m = tmp_path / "m"
    tok = trained_tokenizer(m)
    tiny_opt(m, vocab=304)
    texts = ["the film was great and the soup was terrible", "a great day, a terrible night"] * 6
    (tmp_path / "train.txt").write_text("\n\n".join(texts) + "\n")
    (tmp_path / "valid.txt").write_text("\n\n".join(reversed(texts[:5])) + "\n")
    (tmp_path / "c.tsv").write_text("".join(f"{t}\t{'positive' if i % 2 else 'negative'}\n"
                                            for i, t in enumerate(texts)))
    lm, cls = tmp_path / "lm.h5", tmp_path / "cls.h5"
    script("make_dataset.py", "--model", m, "--seq-len", 12, "--out", lm, "--validation",
           tmp_path / "valid.txt", tmp_path / "train.txt")
    script("make_dataset.py", "--model", m, "--task", "classification", "--seq-len", 12, "--template",
           "{text} It was", "--labels", "negative,positive", "--label-words", " terrible| great",
           "--validation-fraction", 0.5, "--out", cls, tmp_path / "c.tsv")
    script("hf_import_opt.py", m, tmp_path / "opt.h5", "--deck-out", tmp_path / "deck.toml")
    assert "tokenizer = \"hf:" in (tmp_path / "deck.toml").read_text()
    common = ["data.seq_len=12", "data.batch=2"]
    train_only = ["io.run_log=false", "run.log_every=100"]  # eval refuses keys it does not read
    for data, task in ((lm, "lm"), (cls, "classification")):
        deck = [tmp_path / "deck.toml", f"data.path={data}", f"data.task={task}", *common]
        zero = run_zoptimus("eval", *deck, f"io.restart={tmp_path / 'opt.h5'}").splitlines()[-1]
        hf_orig = script("hf_check_export.py", m, data).stdout.strip().splitlines()[-1]
        # Float32 forward passes in two engines: agreement to 2e-6 relative.
        assert score(zero) == pytest.approx(score(hf_orig), rel=2e-6), (zero, hf_orig)
        out = tmp_path / f"run_{task}"
        run_zoptimus("train", *deck, *train_only, f"io.restart={tmp_path / 'opt.h5'}", "run.steps=3",
                     "optim.lr=1e-2", "optim.eps=1e-2", f"io.out_dir={out}")
        ckpt = out / "ckpt_00000003.h5"
        tuned = run_zoptimus("eval", *deck, f"io.restart={ckpt}").splitlines()[-1]
        assert score(tuned) != score(zero)
        export = tmp_path / f"export_{task}"
        script("hf_export_opt.py", ckpt, export, "--tokenizer-from", m)
        assert (export / "tokenizer.json").is_file()
        hf = script("hf_check_export.py", export, data).stdout.strip().splitlines()[-1]
        assert score(tuned) == pytest.approx(score(hf), rel=2e-6), (tuned, hf)
        count = r"(tokens|sequences)=(\d+)"
        assert re.search(count, tuned).group(2) == re.search(count, hf).group(2)
    # A dataset of another tokenizer is refused for this deck (model.tokenizer).
    hand_bpe(tmp_path / "other")
    script("make_dataset.py", "--model", tmp_path / "other", "--seq-len", 12, "--out",
           tmp_path / "other.h5", tmp_path / "train.txt")
    p = subprocess.run([zoptimus(), "eval", tmp_path / "deck.toml", f"data.path={tmp_path / 'other.h5'}",
                        *common], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "but the model uses model.tokenizer" in p.stderr
