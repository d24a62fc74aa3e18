"""Hugging Face OPT interchange: scripts/hf_import_opt.py and scripts/hf_export_opt.py.

A small random OPT-shaped model is written as safetensors (by an independent writer here),
imported, checked for names, shapes and layouts (per-head interleaved QKV, [in, out]
weights), exported again and compared bit for bit. Run: python3 -m pytest -q this_file
(the interpreter needs numpy and h5py: /usr/bin/python3 on Debian). Set ZOPTIMUS to the
zoptimus binary to also check that `zoptimus ckpt info` and `zoptimus eval` accept the result.
"""
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
IMPORT_SCRIPT = REPO / "scripts" / "hf_import_opt.py"
EXPORT_SCRIPT = REPO / "scripts" / "hf_export_opt.py"


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hf_import = load_module("hf_import_opt", IMPORT_SCRIPT)
hf_export = load_module("hf_export_opt", EXPORT_SCRIPT)

V, H, HEADS, LAYERS, FFN, POS = 50, 8, 2, 2, 16, 12
DH = H // HEADS


def write_safetensors(path, tensors):
    """Independent writer: header entries in insertion order, no padding, torch dtypes."""
    codes = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16"}
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, t in tensors.items():
        raw = np.ascontiguousarray(t).tobytes()
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header).encode()
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def opt_tensors(seed=0, dtype=np.float32):
    """Random tensors under HF OPTForCausalLM names and torch layouts."""
    rng = np.random.default_rng(seed)

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    d = "model.decoder."
    t = {d + "embed_tokens.weight": r(V, H), d + "embed_positions.weight": r(POS + 2, H)}
    for i in range(LAYERS):
        p = f"{d}layers.{i}."
        for x in "qkv":
            t[f"{p}self_attn.{x}_proj.weight"] = r(H, H)
            t[f"{p}self_attn.{x}_proj.bias"] = r(H)
        t[p + "self_attn.out_proj.weight"] = r(H, H)
        t[p + "self_attn.out_proj.bias"] = r(H)
        t[p + "self_attn_layer_norm.weight"] = r(H)
        t[p + "self_attn_layer_norm.bias"] = r(H)
        t[p + "fc1.weight"] = r(FFN, H)
        t[p + "fc1.bias"] = r(FFN)
        t[p + "fc2.weight"] = r(H, FFN)
        t[p + "fc2.bias"] = r(H)
        t[p + "final_layer_norm.weight"] = r(H)
        t[p + "final_layer_norm.bias"] = r(H)
    t[d + "final_layer_norm.weight"] = r(H)
    t[d + "final_layer_norm.bias"] = r(H)
    return t


def opt_config(**overrides):
    cfg = {"_name_or_path": "facebook/opt-tiny-test", "architectures": ["OPTForCausalLM"],
           "model_type": "opt", "hidden_size": H, "num_attention_heads": HEADS,
           "num_hidden_layers": LAYERS, "ffn_dim": FFN, "vocab_size": V,
           "max_position_embeddings": POS, "word_embed_proj_dim": H, "do_layer_norm_before": True,
           "activation_function": "relu", "torch_dtype": "float32", "pad_token_id": 1,
           "bos_token_id": 2, "eos_token_id": 2}
    cfg.update(overrides)
    return cfg


def make_model(directory, tensors=None, config=None):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = opt_tensors() if tensors is None else tensors
    write_safetensors(directory / "model.safetensors", tensors)
    (directory / "config.json").write_text(json.dumps(config or opt_config()))
    return tensors


def run_script(script, *args):
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def imported(tmp_path):
    tensors = make_model(tmp_path / "hf")
    out = tmp_path / "opt.h5"
    p = run_script(IMPORT_SCRIPT, tmp_path / "hf", out, "--deck-out", tmp_path / "deck.toml")
    assert p.returncode == 0, p.stderr
    assert "hf_import_opt:" in p.stdout and str(out) in p.stdout
    return tensors, out, tmp_path


# ---- safetensors ----

def test_safetensors_reader_on_hand_computed_bytes(tmp_path):
    # {"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 54 bytes (counted by hand).
    header = b'{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    assert len(header) == 54
    blob = b"\x36\x00\x00\x00\x00\x00\x00\x00" + header + b"\x00\x00\x80\x3f\x00\x00\x00\xc0"
    (tmp_path / "x.safetensors").write_bytes(blob)
    x = hf_import.read_safetensors(tmp_path / "x.safetensors")["x"]
    assert x.dtype == np.float32 and x.tolist() == [1.0, -2.0]
    (tmp_path / "y.safetensors").write_bytes(b"\xff" * 8 + header)
    with pytest.raises(hf_import.ImportFailure, match="not a readable safetensors file"):
        hf_import.read_safetensors(tmp_path / "y.safetensors")


def test_safetensors_writer_read_back_by_hand(tmp_path):
    # The library's file, parsed here by hand: u64 header length, JSON header, raw bytes.
    hf_export.save_safetensors({"w": np.arange(6, dtype=np.float32).reshape(2, 3)},
                               tmp_path / "w.safetensors")
    blob = (tmp_path / "w.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    assert header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert len(blob) == 8 + n + 24
    assert blob[8 + n:8 + n + 8] == b"\x00\x00\x00\x00\x00\x00\x80\x3f"  # 0.0, 1.0


# ---- import ----

def test_import_names_shapes_and_layouts(imported):
    hf, out, _ = imported
    d = "model.decoder."
    with h5py.File(out, "r") as f:
        a = f.attrs
        assert a["format"] == "zoptimus-checkpoint"
        assert a["format_version"] == 1 and a["format_version"].dtype == np.int64
        assert a["step"] == 0 and a["step"].dtype == np.int64
        assert a["mesh"] == "imported"
        for key in ("library_version", "git_hash", "created", "deck"):
            assert isinstance(a[key], str) and a[key]
        assert h5py.check_string_dtype(a.get_id("format").dtype).encoding == "utf-8"
        assert "[model]" in a["deck"] and f"vocab = {V}" in a["deck"]
        m = f["model"].attrs
        assert {k: int(m[k]) for k in ("vocab", "hidden", "heads", "layers", "ffn", "max_positions")} == \
            {"vocab": V, "hidden": H, "heads": HEADS, "layers": LAYERS, "ffn": FFN, "max_positions": POS}
        assert m["vocab"].dtype == np.int64
        assert m["activation"] == "relu" and m["layernorm_eps"] == 1e-5
        assert m["layernorm_eps"].dtype == np.float64
        assert "optim" in f and len(f["optim"]) == 0
        p = f["params"]
        expected = {"embed_tokens": (V, H), "embed_positions": (POS + 2, H),
                    "final_ln.weight": (H,), "final_ln.bias": (H,)}
        for i in range(LAYERS):
            z = f"layers.{i}."
            expected.update({z + "attn_ln.weight": (H,), z + "attn_ln.bias": (H,),
                             z + "qkv.weight": (H, 3 * H), z + "qkv.bias": (3 * H,),
                             z + "out.weight": (H, H), z + "out.bias": (H,),
                             z + "mlp_ln.weight": (H,), z + "mlp_ln.bias": (H,),
                             z + "fc1.weight": (H, FFN), z + "fc1.bias": (FFN,),
                             z + "fc2.weight": (FFN, H), z + "fc2.bias": (H,)})
        assert {n: p[n].shape for n in p} == expected
        assert all(p[n].dtype == np.float32 for n in p)
        assert list(p)[:3] == ["embed_tokens", "embed_positions", "layers.0.attn_ln.weight"]

        np.testing.assert_array_equal(p["embed_tokens"][...], hf[d + "embed_tokens.weight"])
        np.testing.assert_array_equal(p["embed_positions"][...], hf[d + "embed_positions.weight"])
        for i in range(LAYERS):
            z, s = f"layers.{i}.", f"{d}layers.{i}.self_attn."
            qkv, qkv_b = p[z + "qkv.weight"][...], p[z + "qkv.bias"][...]
            for j in range(HEADS):
                for c, x in enumerate("qkv"):
                    cols = slice(3 * DH * j + c * DH, 3 * DH * j + (c + 1) * DH)
                    rows = slice(DH * j, DH * (j + 1))
                    np.testing.assert_array_equal(qkv[:, cols], hf[f"{s}{x}_proj.weight"][rows, :].T)
                    np.testing.assert_array_equal(qkv_b[cols], hf[f"{s}{x}_proj.bias"][rows])
            np.testing.assert_array_equal(qkv[:, 0:DH], hf[s + "q_proj.weight"][0:DH, :].T)
            np.testing.assert_array_equal(p[z + "out.weight"][...], hf[s + "out_proj.weight"].T)
            np.testing.assert_array_equal(p[z + "fc1.weight"][...], hf[f"{d}layers.{i}.fc1.weight"].T)
            np.testing.assert_array_equal(p[z + "fc2.weight"][...], hf[f"{d}layers.{i}.fc2.weight"].T)
            np.testing.assert_array_equal(p[z + "mlp_ln.bias"][...],
                                          hf[f"{d}layers.{i}.final_layer_norm.bias"])
        np.testing.assert_array_equal(p["final_ln.weight"][...], hf[d + "final_layer_norm.weight"])


def test_deck_out_has_the_model(imported):
    _, _, tmp = imported
    deck = (tmp / "deck.toml").read_text()
    for line in (f"vocab = {V}", f"hidden = {H}", f"heads = {HEADS}", f"layers = {LAYERS}",
                 f"ffn = {FFN}", f"max_positions = {POS}", 'activation = "relu"',
                 'name = "opt-tiny-test"', "[optim]", "[data]"):
        assert line in deck


# ---- export ----

def test_export_round_trips_bit_for_bit(imported):
    hf, out, tmp = imported
    p = run_script(EXPORT_SCRIPT, out, tmp / "exported")
    assert p.returncode == 0, p.stderr
    back = hf_import.read_safetensors(tmp / "exported" / "model.safetensors")
    assert set(back) == set(hf)
    for name, t in hf.items():
        assert back[name].dtype == np.float32 and back[name].shape == t.shape, name
        assert back[name].view(np.uint32).tobytes() == t.view(np.uint32).tobytes(), name
    blob = (tmp / "exported" / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    assert (8 + n) % 8 == 0
    assert all(v["dtype"] == "F32" for v in header.values())
    cfg = json.loads((tmp / "exported" / "config.json").read_text())
    assert cfg["architectures"] == ["OPTForCausalLM"] and cfg["model_type"] == "opt"
    assert (cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["ffn_dim"],
            cfg["vocab_size"], cfg["max_position_embeddings"]) == (H, HEADS, LAYERS, FFN, V, POS)
    assert cfg["word_embed_proj_dim"] == H and cfg["do_layer_norm_before"] is True
    assert cfg["activation_function"] == "relu" and cfg["torch_dtype"] == "float32"
    assert cfg["tie_word_embeddings"] is True
    # Importing the export again gives the same checkpoint tensors.
    p = run_script(IMPORT_SCRIPT, tmp / "exported", tmp / "again.h5")
    assert p.returncode == 0, p.stderr
    with h5py.File(out, "r") as a, h5py.File(tmp / "again.h5", "r") as b:
        assert list(a["params"]) == list(b["params"])
        for n in a["params"]:
            assert a["params"][n][...].tobytes() == b["params"][n][...].tobytes(), n
    # Refuses to overwrite the export unless --force.
    p = run_script(EXPORT_SCRIPT, out, tmp / "exported")
    assert p.returncode == 1 and "refusing to overwrite" in p.stderr
    assert run_script(EXPORT_SCRIPT, out, tmp / "exported", "--force").returncode == 0


def test_export_rejects_bad_checkpoints(tmp_path):
    (tmp_path / "x.h5").write_text("not hdf5")
    p = run_script(EXPORT_SCRIPT, tmp_path / "x.h5", tmp_path / "o")
    assert p.returncode == 1 and "not an HDF5 file" in p.stderr
    with h5py.File(tmp_path / "y.h5", "w") as f:
        f.attrs["format"] = "zoptimus-tokens"
    p = run_script(EXPORT_SCRIPT, tmp_path / "y.h5", tmp_path / "o")
    assert p.returncode == 1 and "expected 'zoptimus-checkpoint'" in p.stderr
    assert not (tmp_path / "o").exists()


def test_import_widens_half_precision_and_accepts_tied_head(tmp_path):
    tensors = opt_tensors(seed=3, dtype=np.float16)
    tensors["lm_head.weight"] = tensors["model.decoder.embed_tokens.weight"].copy()
    make_model(tmp_path / "hf", tensors, opt_config(torch_dtype="float16"))
    p = run_script(IMPORT_SCRIPT, tmp_path / "hf", tmp_path / "o.h5")
    assert p.returncode == 0, p.stderr
    with h5py.File(tmp_path / "o.h5", "r") as f:
        e = f["params"]["embed_tokens"]
        assert e.dtype == np.float32
        np.testing.assert_array_equal(e[...], tensors["model.decoder.embed_tokens.weight"].astype(np.float32))


# ---- errors ----

def without(name):
    t = opt_tensors()
    del t[name]
    return t


def with_extra(name, shape):
    t = opt_tensors()
    t[name] = np.zeros(shape, np.float32)
    return t


BAD = [
    ("post-LayerNorm (OPT-350m)", None, opt_config(do_layer_norm_before=False), "do_layer_norm_before"),
    ("project_in/out (OPT-350m)", with_extra("model.decoder.project_in.weight", (H, 4)),
     opt_config(word_embed_proj_dim=4), "project_in"),
    ("unknown activation", None, opt_config(activation_function="silu"), "activation_function"),
    ("not OPT", None, opt_config(model_type="llama"), "model_type"),
    ("heads do not divide hidden", None, opt_config(num_attention_heads=3), "not divisible"),
    ("untied embeddings", None, opt_config(tie_word_embeddings=False), "tie_word_embeddings"),
    ("missing tensor", without("model.decoder.layers.1.fc2.bias"), None,
     "missing tensor 'model.decoder.layers.1.fc2.bias'"),
    ("wrong shape", with_extra("model.decoder.layers.0.fc1.weight", (FFN + 1, H)), None,
     "expected [16, 8]"),
    ("unexpected tensor", with_extra("model.decoder.layers.9.fc1.weight", (2,)), None, "unexpected tensor"),
    ("untied lm_head", with_extra("lm_head.weight", (V, H)), None, "untied"),
]


@pytest.mark.parametrize("name,tensors,config,fragment", BAD, ids=[b[0] for b in BAD])
def test_unsupported_or_bad_models_give_one_clear_error(tmp_path, name, tensors, config, fragment):
    make_model(tmp_path / "hf", tensors, config)
    p = run_script(IMPORT_SCRIPT, tmp_path / "hf", tmp_path / "o.h5")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hf_import_opt: error:"), p.stderr
    assert fragment in lines[0]
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.tmp").exists()


def test_import_input_errors(tmp_path):
    p = run_script(IMPORT_SCRIPT, tmp_path / "nope", tmp_path / "o.h5")
    assert p.returncode == 1 and "not a directory" in p.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps(opt_config()))
    p = run_script(IMPORT_SCRIPT, tmp_path / "empty", tmp_path / "o.h5")
    assert p.returncode == 1 and "no model.safetensors" in p.stderr
    make_model(tmp_path / "hf")
    (tmp_path / "o.h5").write_text("keep me")
    p = run_script(IMPORT_SCRIPT, tmp_path / "hf", tmp_path / "o.h5")
    assert p.returncode == 1 and "refusing to overwrite" in p.stderr
    assert (tmp_path / "o.h5").read_text() == "keep me"


def test_import_refuses_non_finite_weights(tmp_path):
    for bad in (np.nan, np.inf):
        t = opt_tensors()
        t["model.decoder.layers.1.fc1.weight"][3, 2] = bad
        make_model(tmp_path / "hf", t)
        p = run_script(IMPORT_SCRIPT, tmp_path / "hf", tmp_path / "o.h5", "--force")
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1 and len(lines) == 1, p.stderr
        assert "model.decoder.layers.1.fc1.weight' holds 1 NaN/Inf" in lines[0]
        assert not (tmp_path / "o.h5").exists()


def test_export_refuses_non_finite_weights(imported):
    _, out, tmp = imported
    with h5py.File(out, "r+") as f:
        f["params"]["layers.0.qkv.bias"][5] = np.nan
    p = run_script(EXPORT_SCRIPT, out, tmp / "exported")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1, p.stderr
    assert "/params/layers.0.qkv.bias holds 1 NaN/Inf" in lines[0]
    assert not (tmp / "exported" / "model.safetensors").exists()


def malformed_cases(tmp_path):
    """(name, model folder, fragment): the five malformed inputs of issue 9.6."""
    cases = []
    d = tmp_path / "shape_string"
    make_model(d)
    header = b'{"model.decoder.final_layer_norm.bias":{"dtype":"F32","shape":"8","data_offsets":[0,32]}}'
    (d / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 32)
    cases.append(("shape given as a string", d, "not a readable safetensors file"))
    d = tmp_path / "config_list"
    make_model(d)
    (d / "config.json").write_text("[1, 2]")
    cases.append(("config.json a list", d, "a JSON list, expected an object"))
    for name, text, fragment in (("index_not_json", "{weight_map", "not valid JSON"),
                                 ("index_no_weight_map", '{"metadata": {}}', 'no "weight_map"')):
        d = tmp_path / name
        make_model(d)
        (d / "model.safetensors").rename(d / "model-00001.safetensors")
        (d / "model.safetensors.index.json").write_text(text)
        cases.append((name, d, fragment))
    d = tmp_path / "config_latin1"
    make_model(d)
    (d / "config.json").write_bytes(
        json.dumps(opt_config(_name_or_path="caf\u00e9"), ensure_ascii=False).encode("latin-1"))
    cases.append(("config not UTF-8", d, "not UTF-8"))
    return cases


def test_malformed_hf_inputs_give_one_line(tmp_path):
    for name, folder, fragment in malformed_cases(tmp_path):
        p = run_script(IMPORT_SCRIPT, folder, tmp_path / "o.h5")
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1 and len(lines) == 1, (name, p.stderr)
        assert lines[0].startswith("hf_import_opt: error:") and fragment in lines[0], (name, lines[0])


def test_deck_records_the_tokenizer_fingerprint(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tensors = make_model(tmp_path / "hf")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(["a b c d"] * 10, trainers.BpeTrainer(
        vocab_size=40, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False))
    tok.save(str(tmp_path / "hf" / "tokenizer.json"))
    p = run_script(IMPORT_SCRIPT, tmp_path / "hf", tmp_path / "o.h5", "--deck-out", tmp_path / "d.toml")
    assert p.returncode == 0, p.stderr
    # Independent fingerprint: sha256 of the (token, id) list sorted by id.
    import hashlib
    items = sorted(tok.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
    want = "hf:" + hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()[:16]
    assert f'tokenizer = "{want}"' in (tmp_path / "d.toml").read_text()
    del tensors


# ---- zoptimus accepts the result ----

def zoptimus():
    path = os.environ.get("ZOPTIMUS")
    if not path or not Path(path).exists():
        pytest.skip("ZOPTIMUS (path of the zoptimus binary) is not set")
    return str(Path(path).resolve())


def test_zoptimus_ckpt_info_accepts_the_import(imported):
    _, out, _ = imported
    p = subprocess.run([zoptimus(), "ckpt", "info", str(out)], capture_output=True, text=True, timeout=120)
    if p.returncode != 0 and "not in this build" in p.stderr:
        pytest.skip(f"`zoptimus ckpt info` is not in this build: {p.stderr.strip()}")
    assert p.returncode == 0, p.stdout + p.stderr


def test_zoptimus_eval_accepts_the_deck(imported):
    _, _, tmp = imported
    p = subprocess.run([zoptimus(), "eval", str(tmp / "deck.toml")], capture_output=True, text=True,
                       timeout=120, cwd=tmp)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("eval: loss=")
