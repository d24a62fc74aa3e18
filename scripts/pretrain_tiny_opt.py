#!/usr/bin/env python3
"""Pretrain a tiny OPT-shaped model with PyTorch (first order) and save it in Hugging Face
layout, with the corpora of a fine-tuning task of our own.

    scripts/pretrain_tiny_opt.py OUT_DIR [--steps 300] [--force]

Writes, deterministically (fixed seeds, one thread):
  OUT_DIR/config.json, model.safetensors, tokenizer.json   an OPT model (transformers'
        OPTForCausalLM, pre-LayerNorm, tied head) and its byte-level BPE tokenizer, trained
        here with Hugging Face `tokenizers` (special tokens as OPT: <s>=0 <pad>=1 </s>=2 <unk>=3)
  OUT_DIR/corpus/pretrain.txt            domain A: weather reports, plus film reviews ending
                                         "It was great." / "It was terrible." (pretraining)
  OUT_DIR/corpus/shift_{train,valid}.txt domain B: kitchen instructions (the shifted domain)
  OUT_DIR/corpus/cls_{train,valid}.tsv   review<TAB>negative|positive, without the verdict,
                                         with adjectives pretraining never paired with one
                                         (the classification task; template "{text} It was",
                                         label words " terrible" / " great")
The text is generated from word lists here (no downloads). About a minute on one core.
"""
import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np

try:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import OPTConfig, OPTForCausalLM
except ImportError as e:  # pragma: no cover
    sys.exit(f"pretrain_tiny_opt: error: needs torch, tokenizers and transformers ({e}); "
             "run scripts/setup and use .venv/bin/python")

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
BOS = EOS = 2
PAD = 1

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Perth", "Quito", "Dublin", "Kyoto", "Austin"]
SKIES = ["cloudy", "clear", "grey", "sunny", "stormy", "misty", "bright"]
WINDS = ["north", "south", "east", "west"]
TEMPS = ["cold", "mild", "warm", "hot", "cool"]
FILMS = ["the film", "the movie", "the story", "the show", "the play", "the book"]
# Pretraining reviews use the first adjectives with their verdict; the classification task
# uses the others, seen in pretraining only in neutral weather talk (so zero-shot is weak).
GOOD = ["funny", "moving", "clever", "lovely", "gripping", "charming", "beautiful", "superb"]
BAD = ["dull", "boring", "silly", "slow", "awful", "clumsy", "tedious", "bland"]
SEEN = 4
FOODS = ["the onions", "the rice", "the beans", "the garlic", "the carrots", "the pasta", "the fish"]
VERBS = ["stir", "fry", "boil", "chop", "bake", "roast", "rinse"]
TOOLS = ["the pan", "the pot", "the oven", "the bowl", "the tray"]
TIMES = ["two", "three", "five", "ten", "twenty"]


def weather(r):
    return (f"On {r.choice(DAYS)} the sky over {r.choice(CITIES)} was {r.choice(SKIES)} and the "
            f"wind came from the {r.choice(WINDS)}. The night will be {r.choice(TEMPS)}. Some "
            f"called it {r.choice(GOOD[SEEN:] + BAD[SEEN:])}.")


def review(r, positive, seen=True):
    words = GOOD if positive else BAD
    adj = r.sample(words[:SEEN] if seen else words[SEEN:], 2)
    return f"I saw {r.choice(FILMS)} on {r.choice(DAYS)}. It felt {adj[0]} and {adj[1]}."


def kitchen(r):
    return (f"{r.choice(VERBS).capitalize()} {r.choice(FOODS)} in {r.choice(TOOLS)} for "
            f"{r.choice(TIMES)} minutes, then add {r.choice(FOODS)}.")


def write_corpora(corpus, r):
    corpus.mkdir(parents=True, exist_ok=True)
    docs = []
    for _ in range(1500):
        if r.random() < 0.6:
            docs.append(weather(r))
        else:
            pos = r.random() < 0.5
            docs.append(review(r, pos) + (" It was great." if pos else " It was terrible."))
    (corpus / "pretrain.txt").write_text("\n\n".join(docs) + "\n")
    for name, n in (("shift_train", 400), ("shift_valid", 60)):
        (corpus / f"{name}.txt").write_text("\n\n".join(kitchen(r) for _ in range(n)) + "\n")
    for name, n in (("cls_train", 256), ("cls_valid", 64)):
        lines = []
        for _ in range(n):
            pos = r.random() < 0.5
            lines.append(f"{review(r, pos, seen=False)}\t{'positive' if pos else 'negative'}")
        (corpus / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return docs


def train_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    for word in (" great", " terrible"):
        if len(tok.encode(word).ids) != 1:
            raise SystemExit(f"pretrain_tiny_opt: error: label word {word!r} is not one token")
    return tok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=512, help="BPE vocabulary size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    out = Path(a.out_dir)
    if out.exists():
        if not a.force:
            print(f"pretrain_tiny_opt: error: {out} exists (pass --force)", file=sys.stderr)
            return 1
        shutil.rmtree(out)
    r = random.Random(a.seed)
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    docs = write_corpora(out / "corpus", r)
    tok = train_tokenizer(docs, a.vocab)

    stream = []
    for d in docs:
        stream += [BOS] + tok.encode(d).ids
    stream.append(EOS)
    n = len(stream) // a.seq_len
    data = torch.tensor(stream[:n * a.seq_len]).view(n, a.seq_len)

    vocab = -(-tok.get_vocab_size() // 8) * 8  # padded like OPT's 50272
    cfg = OPTConfig(vocab_size=vocab, hidden_size=a.hidden, num_attention_heads=4,
                    num_hidden_layers=a.layers, ffn_dim=4 * a.hidden, max_position_embeddings=64,
                    word_embed_proj_dim=a.hidden, do_layer_norm_before=True, dropout=0.0,
                    attention_dropout=0.0, activation_function="relu", pad_token_id=PAD,
                    bos_token_id=BOS, eos_token_id=EOS, tie_word_embeddings=True)
    model = OPTForCausalLM(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(a.seed)
    for step in range(a.steps):
        idx = torch.randint(0, n, (a.batch,), generator=g)
        batch = data[idx]
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == a.steps - 1:
            print(f"pretrain: step {step} loss {loss.item():.4f}", flush=True)
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tok.save(str(out / "tokenizer.json"))
    params = sum(p.numel() for p in model.parameters())
    print(f"pretrain_tiny_opt: {params} parameters, vocab {vocab} (tokenizer "
          f"{tok.get_vocab_size()}), {a.steps} steps -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
