#!/usr/bin/env python3
"""Import a Hugging Face OPT model (config.json + model.safetensors) as a zoptimus checkpoint.

    scripts/hf_import_opt.py MODEL_DIR OUT.h5 [--deck-out deck.toml] [--force]
    mpirun -np 4 build/bin/zoptimus train deck.toml io.restart=OUT.h5

Needs numpy, h5py and the `safetensors` library (the project's .venv: scripts/setup-python);
the tokenizer, when the folder has one, is read with `tokenizers` and its fingerprint goes
into the deck (model.tokenizer). Weights that are not finite (NaN/Inf) are refused.

Layouts: torch Linear weights are [out, in]; zoptimus stores [in, out]. The QKV weight
[h, 3h] is interleaved per head: for head j (dh = h / heads) the columns
[3*dh*j, 3*dh*j + dh) are q_proj's rows of head j transposed, then k, then v; qkv.bias alike.
Supported: pre-LayerNorm OPT (do_layer_norm_before = true) with word_embed_proj_dim = hidden
and tied embeddings (every OPT size except 350m).
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    sys.exit(f"hf_import_opt: error: needs numpy and h5py ({e}); try /usr/bin/python3")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoptimus_hf import (HfInputError, has_tokenizer, load_tokenizer, read_json,  # noqa: E402
                         tokenizer_fingerprint)

FORMAT = "zoptimus-checkpoint"
FORMAT_VERSION = 1
REPO = Path(__file__).resolve().parent.parent


class ImportFailure(HfInputError):
    """A problem with the input the user can act on: printed as one line, exit 1."""


# ---- safetensors (the `safetensors` library) ----

def read_safetensors(path):
    """{name: numpy array} of a safetensors file, read with the `safetensors` library; BF16
    (which numpy lacks) is widened to float32 exactly."""
    try:
        from safetensors.numpy import load_file
    except ImportError as e:  # pragma: no cover
        raise ImportFailure(f"needs the `safetensors` package ({e}); run scripts/setup-python "
                            "and use .venv/bin/python")
    try:
        return load_file(str(path))
    except Exception as e:  # the library's own errors for malformed files
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "bfloat16" not in first.lower() and "bf16" not in first.lower():
            raise ImportFailure(f"{path}: not a readable safetensors file ({first})")
    # BF16, which numpy lacks: the library's torch reader, widened to float32 exactly.
    try:
        import torch  # noqa: F401  (Debian's python3-torch)
        from safetensors.torch import load_file as load_torch
        return {k: v.float().numpy() for k, v in load_torch(str(path)).items()}
    except ImportError as e:
        raise ImportFailure(f"{path}: BF16 tensors need torch ({e})")
    except Exception as e:
        raise ImportFailure(f"{path}: not a readable safetensors file ({e})")


def load_hf_tensors(model_dir):
    model_dir = Path(model_dir)
    single = model_dir / "model.safetensors"
    index = model_dir / "model.safetensors.index.json"
    if single.exists():
        return read_safetensors(single)
    if index.exists():  # sharded checkpoints
        data = read_json(index, "JSON (a safetensors index)")
        if not isinstance(data, dict) or not isinstance(data.get("weight_map"), dict):
            raise ImportFailure(f"{index}: no \"weight_map\" object (expected "
                                "{\"weight_map\": {tensor: file}})")
        files = data["weight_map"].values()
        if not all(isinstance(f, str) for f in files):
            raise ImportFailure(f"{index}: weight_map values must be file names")
        tensors = {}
        for f in sorted(set(files)):
            if not (model_dir / f).is_file():
                raise ImportFailure(f"{index}: shard {f} is missing")
            tensors.update(read_safetensors(model_dir / f))
        return tensors
    if (model_dir / "pytorch_model.bin").exists():
        raise ImportFailure(f"{model_dir}: only pytorch_model.bin found; convert it to "
                            "model.safetensors first (e.g. save_pretrained(safe_serialization=True))")
    raise ImportFailure(f"{model_dir}: no model.safetensors (or model.safetensors.index.json)")


# ---- OPT config ----

def read_opt_config(model_dir):
    path = Path(model_dir) / "config.json"
    if not path.exists():
        raise ImportFailure(f"{path}: no such file (expected a Hugging Face OPT model directory)")
    cfg = read_json(path)
    if not isinstance(cfg, dict):
        raise ImportFailure(f"{path}: a JSON {type(cfg).__name__}, expected an object "
                            "(a Hugging Face config.json)")
    if cfg.get("model_type") != "opt":
        raise ImportFailure(f"{path}: model_type = {cfg.get('model_type')!r}, expected 'opt'")
    for key in ("hidden_size", "num_attention_heads", "num_hidden_layers", "ffn_dim", "vocab_size",
                "max_position_embeddings"):
        if not isinstance(cfg.get(key), int) or isinstance(cfg[key], bool) or cfg[key] <= 0:
            raise ImportFailure(f"{path}: {key} = {cfg.get(key)!r}, expected a positive integer")
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    if h % heads:
        raise ImportFailure(f"{path}: hidden_size {h} is not divisible by num_attention_heads {heads}")
    if not cfg.get("do_layer_norm_before", True):
        raise ImportFailure(f"{path}: do_layer_norm_before = false (post-LayerNorm, as in OPT-350m) "
                            "is not supported: zoptimus implements pre-LayerNorm OPT")
    proj = cfg.get("word_embed_proj_dim", h)
    if proj != h:
        raise ImportFailure(f"{path}: word_embed_proj_dim = {proj} != hidden_size = {h} (OPT-350m's "
                            "project_in/project_out) is not supported")
    if cfg.get("_remove_final_layer_norm", False):
        raise ImportFailure(f"{path}: _remove_final_layer_norm = true is not supported")
    if not cfg.get("enable_bias", True) or not cfg.get("layer_norm_elementwise_affine", True):
        raise ImportFailure(f"{path}: enable_bias / layer_norm_elementwise_affine = false is not supported")
    if not cfg.get("tie_word_embeddings", True):
        raise ImportFailure(f"{path}: tie_word_embeddings = false is not supported (zoptimus ties the "
                            "LM head to the token embedding)")
    act = cfg.get("activation_function", "relu")
    if act not in ("relu", "gelu"):
        raise ImportFailure(f"{path}: activation_function = {act!r}, expected 'relu' or 'gelu'")
    name = Path(str(cfg.get("_name_or_path") or Path(model_dir).resolve().name)).name
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", name) or "opt"
    return {"name": name, "vocab": cfg["vocab_size"], "hidden": h, "heads": heads,
            "layers": cfg["num_hidden_layers"], "ffn": cfg["ffn_dim"],
            "max_positions": cfg["max_position_embeddings"], "activation": act,
            "layernorm_eps": 1e-5}


# ---- layouts ----

def interleave_qkv(q, k, v, heads):
    """torch [h, h] q/k/v weights (or [h] biases) -> zoptimus [h, 3h] (or [3h]), per head q|k|v."""
    if q.ndim == 1:
        dh = q.shape[0] // heads
        return np.stack([q.reshape(heads, dh), k.reshape(heads, dh), v.reshape(heads, dh)],
                        axis=1).reshape(-1)
    h_in = q.shape[1]
    dh = q.shape[0] // heads
    parts = [w.T.reshape(h_in, heads, dh) for w in (q, k, v)]
    return np.stack(parts, axis=2).reshape(h_in, 3 * heads * dh)


def zoptimus_params(hf, m):
    """{zoptimus name: float32 array} in parameter-table order, from HF tensors."""
    V, h, P, L, F = m["vocab"], m["hidden"], m["max_positions"], m["layers"], m["ffn"]
    tensors = {(n[len("model."):] if n.startswith("model.") else n): t for n, t in hf.items()}
    used = set()

    def get(name, shape):
        if name not in tensors:
            raise ImportFailure(f"missing tensor 'model.{name}' (expected shape {list(shape)})")
        t = tensors[name]
        if list(t.shape) != list(shape):
            raise ImportFailure(f"tensor 'model.{name}' has shape {list(t.shape)}, expected {list(shape)} "
                                "(from config.json)")
        if t.dtype.kind != "f":
            raise ImportFailure(f"tensor 'model.{name}' has dtype {t.dtype}, expected floating point")
        used.add(name)
        t = np.ascontiguousarray(t, dtype=np.float32)
        bad = int(np.count_nonzero(~np.isfinite(t)))
        if bad:
            raise ImportFailure(f"tensor 'model.{name}' holds {bad} NaN/Inf value(s); refusing to "
                                "import a model that is not finite")
        return t

    d = "decoder."
    out = {"embed_tokens": get(d + "embed_tokens.weight", (V, h)),
           "embed_positions": get(d + "embed_positions.weight", (P + 2, h))}
    for i in range(L):
        p, z = f"{d}layers.{i}.", f"layers.{i}."
        a = p + "self_attn."
        out[z + "attn_ln.weight"] = get(p + "self_attn_layer_norm.weight", (h,))
        out[z + "attn_ln.bias"] = get(p + "self_attn_layer_norm.bias", (h,))
        out[z + "qkv.weight"] = interleave_qkv(*(get(f"{a}{x}_proj.weight", (h, h)) for x in "qkv"),
                                               m["heads"])
        out[z + "qkv.bias"] = interleave_qkv(*(get(f"{a}{x}_proj.bias", (h,)) for x in "qkv"),
                                             m["heads"])
        out[z + "out.weight"] = np.ascontiguousarray(get(a + "out_proj.weight", (h, h)).T)
        out[z + "out.bias"] = get(a + "out_proj.bias", (h,))
        out[z + "mlp_ln.weight"] = get(p + "final_layer_norm.weight", (h,))
        out[z + "mlp_ln.bias"] = get(p + "final_layer_norm.bias", (h,))
        out[z + "fc1.weight"] = np.ascontiguousarray(get(p + "fc1.weight", (F, h)).T)
        out[z + "fc1.bias"] = get(p + "fc1.bias", (F,))
        out[z + "fc2.weight"] = np.ascontiguousarray(get(p + "fc2.weight", (h, F)).T)
        out[z + "fc2.bias"] = get(p + "fc2.bias", (h,))
    out["final_ln.weight"] = get(d + "final_layer_norm.weight", (h,))
    out["final_ln.bias"] = get(d + "final_layer_norm.bias", (h,))
    if "lm_head.weight" in hf:
        if not np.array_equal(np.asarray(hf["lm_head.weight"], np.float32), out["embed_tokens"]):
            raise ImportFailure("lm_head.weight differs from embed_tokens: untied LM heads are not supported")
    extra = sorted(set(tensors) - used - {"lm_head.weight"})
    if any("project_in" in n or "project_out" in n for n in extra):
        raise ImportFailure("project_in/project_out tensors (OPT-350m) are not supported")
    if extra:
        raise ImportFailure(f"unexpected tensor 'model.{extra[0]}' ({len(extra)} unexpected in all)")
    return out


# ---- deck and checkpoint ----

def make_deck(m, source, tokenizer=None):
    seq = min(128, m["max_positions"])
    if tokenizer:
        note = (f"# Data: scripts/make_dataset.py --model {source} ... (the model's own tokenizer,\n"
                f"# {tokenizer}); datasets of another tokenizer are refused (model.tokenizer).")
        tok_line = f'tokenizer = "{tokenizer}"   # fingerprint of the model folder\'s tokenizer\n'
    else:
        note = ("# The model folder has no tokenizer.json (or vocab.json + merges.txt): make datasets\n"
                "# with the model's tokenizer (scripts/make_dataset.py --model DIR_WITH_TOKENIZER).")
        tok_line = ""
    return f"""# {m['name']}: imported from Hugging Face OPT ({source}) by scripts/hf_import_opt.py.
# Evaluate:   mpirun -np 4 build/bin/zoptimus eval THIS.toml data.path=DATA.h5 io.restart=CHECKPOINT.h5
# Fine-tune:  mpirun -np 4 build/bin/zoptimus train THIS.toml data.path=DATA.h5 io.restart=CHECKPOINT.h5
{note}

[model]
name = "{m['name']}"
{tok_line}vocab = {m['vocab']}
hidden = {m['hidden']}
heads = {m['heads']}
layers = {m['layers']}
ffn = {m['ffn']}
max_positions = {m['max_positions']}
activation = "{m['activation']}"
layernorm_eps = 1e-5

[parallel]
mode = "2d"          # q is derived from the rank count

[optim]
method = "mezo"
lr = 1e-6
eps = 1e-3
n_perturb = 1
schedule = "constant"

[data]
task = "lm"
batch = 4
seq_len = {seq}

[run]
steps = 100
eval_every = 50
eval_batches = 4
log_every = 10

[io]
out_dir = "runs/{m['name']}"
keep = 2
"""


def library_version():
    text = (REPO / "CMakeLists.txt").read_text() if (REPO / "CMakeLists.txt").exists() else ""
    match = re.search(r"project\(zoptimus\s+VERSION\s+([0-9.]+)", text)
    return match.group(1) if match else "unknown"


def git_hash():
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_checkpoint(path, m, params, deck):
    tmp = Path(str(path) + ".tmp")
    try:
        with h5py.File(tmp, "w") as f:
            a = f.attrs
            a["format"] = FORMAT
            a["format_version"] = np.int64(FORMAT_VERSION)
            a["step"] = np.int64(0)
            a["deck"] = deck
            a["mesh"] = "imported"
            a["library_version"] = library_version()
            a["git_hash"] = git_hash()
            a["created"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            g = f.create_group("model")
            for key in ("vocab", "hidden", "heads", "layers", "ffn", "max_positions"):
                g.attrs[key] = np.int64(m[key])
            g.attrs["activation"] = m["activation"]
            g.attrs["layernorm_eps"] = np.float64(m["layernorm_eps"])
            p = f.create_group("params", track_order=True)
            for name, t in params.items():
                p.create_dataset(name, data=t, dtype="<f4")
            f.create_group("optim", track_order=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def import_opt(model_dir, out, deck_out=None, force=False):
    model_dir, out = Path(model_dir), Path(out)
    if not model_dir.is_dir():
        raise ImportFailure(f"{model_dir}: not a directory (expected a Hugging Face OPT model directory)")
    for target in (out, deck_out):
        if target is not None and Path(target).exists() and not force:
            raise ImportFailure(f"{target} exists; refusing to overwrite it (pass --force)")
    m = read_opt_config(model_dir)
    params = zoptimus_params(load_hf_tensors(model_dir), m)
    tokenizer = None
    if has_tokenizer(model_dir):
        tokenizer = tokenizer_fingerprint(load_tokenizer(model_dir))
    deck = make_deck(m, model_dir.resolve().name if tokenizer is None else str(model_dir), tokenizer)
    write_checkpoint(out, m, params, deck)
    if deck_out is not None:
        Path(deck_out).write_text(deck)
    count = sum(t.size for t in params.values())
    return (f"hf_import_opt: {m['name']}: {m['layers']} layers, hidden {m['hidden']}, heads {m['heads']}, "
            f"ffn {m['ffn']}, vocab {m['vocab']}, {count} parameters -> {out}"
            + (f" (deck {deck_out})" if deck_out else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", help="directory with config.json and model.safetensors")
    ap.add_argument("out", help="zoptimus checkpoint to write (.h5)")
    ap.add_argument("--deck-out", help="also write a usable input deck (TOML) for this model")
    ap.add_argument("--force", action="store_true", help="replace existing output files")
    args = ap.parse_args(argv)
    try:
        print(import_opt(args.model_dir, args.out, args.deck_out, args.force))
    except (HfInputError, OSError) as e:
        print(f"hf_import_opt: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
