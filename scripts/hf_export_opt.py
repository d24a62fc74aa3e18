#!/usr/bin/env python3
"""Export a zoptimus checkpoint as a Hugging Face OPT model (model.safetensors + config.json).

    scripts/hf_export_opt.py CKPT.h5 OUT_DIR [--force]

The inverse of hf_import_opt.py: float32 tensors under HF names in torch layouts ([out, in]
Linear weights, q/k/v split out of the per-head interleaved QKV), tied LM head (no
lm_head.weight), written with the `safetensors` library (the project's .venv:
scripts/setup-python). Weights that are not finite (NaN/Inf) are refused. Check an export
with scripts/hf_check_export.py (Hugging Face transformers' loss on a zoptimus dataset).
"""
import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    sys.exit(f"hf_export_opt: error: needs numpy and h5py ({e}); try /usr/bin/python3")

FORMAT = "zoptimus-checkpoint"
FORMAT_VERSION = 1


class ExportFailure(Exception):
    """A problem with the input the user can act on: printed as one line, exit 1."""


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: float32 array} with the `safetensors` library."""
    try:
        from safetensors.numpy import save_file
    except ImportError as e:  # pragma: no cover
        raise ExportFailure(f"needs the `safetensors` package ({e}); run scripts/setup-python "
                            "and use .venv/bin/python")
    save_file({k: np.ascontiguousarray(t, dtype="<f4") for k, t in tensors.items()}, str(path),
              metadata=metadata)


def split_qkv(qkv, heads):
    """zoptimus [h, 3h] (or [3h]) per-head q|k|v -> torch q, k, v weights [h, h] (or biases [h])."""
    if qkv.ndim == 1:
        dh = qkv.shape[0] // (3 * heads)
        parts = qkv.reshape(heads, 3, dh)
        return [np.ascontiguousarray(parts[:, c, :].reshape(-1)) for c in range(3)]
    h_in = qkv.shape[0]
    dh = qkv.shape[1] // (3 * heads)
    parts = qkv.reshape(h_in, heads, 3, dh)
    return [np.ascontiguousarray(parts[:, :, c, :].reshape(h_in, heads * dh).T) for c in range(3)]


def text_attr(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_checkpoint(path):
    path = Path(path)
    if not path.exists():
        raise ExportFailure(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise ExportFailure(f"{path}: not an HDF5 file (expected a zoptimus checkpoint)")
    with h5py.File(path, "r") as f:
        fmt = text_attr(f.attrs.get("format", ""))
        if fmt != FORMAT:
            raise ExportFailure(f"{path}: format = {fmt!r}, expected {FORMAT!r}")
        version = int(f.attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise ExportFailure(f"{path}: format_version = {version}, this script reads {FORMAT_VERSION}")
        for group in ("model", "params"):
            if group not in f:
                raise ExportFailure(f"{path}: group /{group} is missing")
        ma = f["model"].attrs
        m = {}
        for key in ("vocab", "hidden", "heads", "layers", "ffn", "max_positions"):
            if key not in ma:
                raise ExportFailure(f"{path}: /model attribute '{key}' is missing")
            m[key] = int(ma[key])
        m["activation"] = text_attr(ma.get("activation", "relu"))
        m["layernorm_eps"] = float(ma.get("layernorm_eps", 1e-5))
        params = {}
        for name, d in f["params"].items():
            if d.dtype != np.float32:
                raise ExportFailure(f"{path}: /params/{name} has dtype {d.dtype}, expected float32")
            params[name] = d[...]
            bad = int(np.count_nonzero(~np.isfinite(params[name])))
            if bad:
                raise ExportFailure(f"{path}: /params/{name} holds {bad} NaN/Inf value(s); refusing "
                                    "to export a model that is not finite")
    if m["activation"] not in ("relu", "gelu"):
        raise ExportFailure(f"{path}: activation = {m['activation']!r}, expected 'relu' or 'gelu'")
    if m["hidden"] % m["heads"]:
        raise ExportFailure(f"{path}: hidden {m['hidden']} is not divisible by heads {m['heads']}")
    return m, params


def hf_tensors(m, params, where):
    V, h, P, L, F = m["vocab"], m["hidden"], m["max_positions"], m["layers"], m["ffn"]
    used = set()

    def get(name, shape):
        if name not in params:
            raise ExportFailure(f"{where}: /params/{name} is missing (expected shape {list(shape)})")
        if list(params[name].shape) != list(shape):
            raise ExportFailure(f"{where}: /params/{name} has shape {list(params[name].shape)}, "
                                f"expected {list(shape)} (from /model)")
        used.add(name)
        return params[name]

    d = "model.decoder."
    out = {d + "embed_tokens.weight": get("embed_tokens", (V, h)),
           d + "embed_positions.weight": get("embed_positions", (P + 2, h))}
    for i in range(L):
        z, p = f"layers.{i}.", f"{d}layers.{i}."
        a = p + "self_attn."
        wq, wk, wv = split_qkv(get(z + "qkv.weight", (h, 3 * h)), m["heads"])
        bq, bk, bv = split_qkv(get(z + "qkv.bias", (3 * h,)), m["heads"])
        out.update({a + "k_proj.weight": wk, a + "k_proj.bias": bk,
                    a + "v_proj.weight": wv, a + "v_proj.bias": bv,
                    a + "q_proj.weight": wq, a + "q_proj.bias": bq,
                    a + "out_proj.weight": np.ascontiguousarray(get(z + "out.weight", (h, h)).T),
                    a + "out_proj.bias": get(z + "out.bias", (h,)),
                    p + "self_attn_layer_norm.weight": get(z + "attn_ln.weight", (h,)),
                    p + "self_attn_layer_norm.bias": get(z + "attn_ln.bias", (h,)),
                    p + "fc1.weight": np.ascontiguousarray(get(z + "fc1.weight", (h, F)).T),
                    p + "fc1.bias": get(z + "fc1.bias", (F,)),
                    p + "fc2.weight": np.ascontiguousarray(get(z + "fc2.weight", (F, h)).T),
                    p + "fc2.bias": get(z + "fc2.bias", (h,)),
                    p + "final_layer_norm.weight": get(z + "mlp_ln.weight", (h,)),
                    p + "final_layer_norm.bias": get(z + "mlp_ln.bias", (h,))})
    out[d + "final_layer_norm.weight"] = get("final_ln.weight", (h,))
    out[d + "final_layer_norm.bias"] = get("final_ln.bias", (h,))
    extra = sorted(set(params) - used)
    if extra:
        raise ExportFailure(f"{where}: unexpected tensor /params/{extra[0]} for an OPT model")
    return out


def hf_config(m, special=None):
    return {
        "architectures": ["OPTForCausalLM"],
        "model_type": "opt",
        "hidden_size": m["hidden"],
        "num_attention_heads": m["heads"],
        "num_hidden_layers": m["layers"],
        "ffn_dim": m["ffn"],
        "vocab_size": m["vocab"],
        "max_position_embeddings": m["max_positions"],
        "word_embed_proj_dim": m["hidden"],
        "do_layer_norm_before": True,
        "_remove_final_layer_norm": False,
        "activation_function": m["activation"],
        "enable_bias": True,
        "layer_norm_elementwise_affine": True,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "layerdrop": 0.0,
        "init_std": 0.02,
        "use_cache": True,
        # OPT's GPT-2 BPE ids unless --tokenizer-from gives the model's own; a model trained
        # on zoptimus byte datasets (bytes-v1) uses 256 = BOS, 257 = EOS, 258 = PAD instead.
        "pad_token_id": special["pad"] if special else 1,
        "bos_token_id": special["bos"] if special else 2,
        "eos_token_id": special["eos"] if special else 2,
    }


def export_opt(ckpt, out_dir, force=False, tokenizer_from=None):
    out_dir = Path(out_dir)
    m, params = read_checkpoint(ckpt)
    special = None
    if tokenizer_from is not None:
        # The special ids of the model the checkpoint came from (its config.json / tokenizer).
        from zoptimus_hf import HfInputError, load_tokenizer, special_ids
        try:
            special = special_ids(load_tokenizer(tokenizer_from), tokenizer_from)
        except HfInputError as e:
            raise ExportFailure(str(e))
    tensors = hf_tensors(m, params, ckpt)
    targets = [out_dir / "model.safetensors", out_dir / "config.json"]
    if not force:
        for t in targets:
            if t.exists():
                raise ExportFailure(f"{t} exists; refusing to overwrite it (pass --force)")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = targets[0].with_suffix(".safetensors.tmp")
    try:
        save_safetensors(tensors, tmp, {"format": "pt"})
        os.replace(tmp, targets[0])
    finally:
        tmp.unlink(missing_ok=True)
    cfg = hf_config(m, special)
    tmp_cfg = targets[1].with_suffix(".json.tmp")
    tmp_cfg.write_text(json.dumps(cfg, indent=2) + "\n")
    os.replace(tmp_cfg, targets[1])
    copied = []
    if tokenizer_from is not None:
        for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                     "special_tokens_map.json"):
            src = Path(tokenizer_from) / name
            if src.is_file():
                shutil.copyfile(src, out_dir / name)
                copied.append(name)
    return (f"hf_export_opt: {len(tensors)} tensors, {sum(t.size for t in tensors.values())} parameters "
            f"-> {targets[0]}, {targets[1]}" + (f" (+ {', '.join(copied)})" if copied else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="zoptimus checkpoint (.h5)")
    ap.add_argument("out_dir", help="directory for model.safetensors and config.json")
    ap.add_argument("--force", action="store_true", help="replace existing output files")
    ap.add_argument("--tokenizer-from", metavar="MODEL_DIR",
                    help="copy the tokenizer files (tokenizer.json, vocab.json, merges.txt) of the "
                    "original model and take its special ids")
    args = ap.parse_args(argv)
    try:
        print(export_opt(args.checkpoint, args.out_dir, args.force, args.tokenizer_from))
    except (ExportFailure, OSError) as e:
        print(f"hf_export_opt: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
