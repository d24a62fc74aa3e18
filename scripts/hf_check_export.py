#!/usr/bin/env python3
"""Score a Hugging Face OPT model folder with `transformers` on a zoptimus token dataset, the
way `zoptimus eval` does, to check an export (scripts/hf_export_opt.py) independently.

    scripts/hf_check_export.py MODEL_DIR DATA.h5 [--split validation|test] [--sequences N]

The model is transformers' OPTForCausalLM loaded from MODEL_DIR's config.json and
model.safetensors (offline: HF_HUB_OFFLINE=1, nothing is downloaded). LM: mean next-token
cross-entropy over every target of the split's first N rows (N = all by default), a target
being the next token unless it is PAD or past the row's end. Classification: cross-entropy
over the label words' logits at last_pos, and accuracy. Prints one line:
    transformers: loss=<float> tokens=<int>           (LM)
    transformers: loss=<float> sequences=<int> accuracy=<float>   (classification)
"""
import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def score(model_dir, data, split="validation", sequences=0):
    import torch
    from transformers import OPTForCausalLM
    torch.set_num_threads(1)
    model = OPTForCausalLM.from_pretrained(model_dir, local_files_only=True,
                                           attn_implementation="eager",
                                           torch_dtype=torch.float32)
    model.eval()
    with h5py.File(data, "r") as f:
        task = text(f.attrs["task"])
        pad = int(f.attrs["pad_id"])
        if split not in f:
            raise SystemExit(f"hf_check_export: error: {data} has no /{split} split")
        tokens = f[split]["tokens"][...].astype(np.int64)
        n = len(tokens) if sequences <= 0 else min(sequences, len(tokens))
        tokens = tokens[:n]
        if task == "classification":
            last = f[split]["last_pos"][...][:n]
            labels = f[split]["labels"][...][:n]
            words = f["label_words"][...]
    total, count, correct = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, n, 16):
            ids = torch.from_numpy(tokens[i:i + 16])
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.double()
            logp = torch.log_softmax(logits, dim=-1)  # in float64, as zoptimus sums
            if task == "classification":
                for b in range(ids.shape[0]):
                    sel = logits[b, int(last[i + b]), torch.from_numpy(words.astype(np.int64))]
                    lp = torch.log_softmax(sel, dim=-1)
                    total -= float(lp[int(labels[i + b])])
                    correct += int(torch.argmax(sel)) == int(labels[i + b])
                    count += 1
            else:
                nxt = ids[:, 1:]
                mask = nxt != pad
                picked = logp[:, :-1, :].gather(2, nxt.unsqueeze(2)).squeeze(2)
                total -= float(picked[mask].sum())
                count += int(mask.sum())
    if task == "classification":
        return f"transformers: loss={total / count:.6f} sequences={count} accuracy={correct / count:.4f}"
    return f"transformers: loss={total / count:.6f} tokens={count}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("data")
    ap.add_argument("--split", default="validation", choices=("validation", "test", "train"))
    ap.add_argument("--sequences", type=int, default=0, help="first N rows (0: all), as run.eval_sequences")
    a = ap.parse_args(argv)
    print(score(a.model_dir, a.data, a.split, a.sequences))
    return 0


if __name__ == "__main__":
    sys.exit(main())
