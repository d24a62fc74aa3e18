"""Shared helpers of the Hugging Face tools (make_dataset.py, hf_import_opt.py,
hf_export_opt.py, hf_check_export.py, pretrain_tiny_opt.py): a model folder's tokenizer,
its fingerprint (the name datasets and decks record) and its special ids.

The tokenizer is Hugging Face `tokenizers` (PyPI), read from the folder's tokenizer.json, or
from vocab.json + merges.txt (GPT-2 byte-level BPE, as OPT ships it).
"""
import hashlib
import json
from pathlib import Path


class HfInputError(Exception):
    """A problem with a model folder the user can act on: printed as one line, exit 1."""


def read_json(path, what="JSON"):
    """Parsed JSON of a file, or HfInputError naming the file (not UTF-8, not JSON)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise HfInputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise HfInputError(f"{path}: not valid {what} ({e})")


def load_tokenizer(model_dir):
    """The folder's tokenizer as a `tokenizers.Tokenizer`."""
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    except ImportError as e:  # pragma: no cover
        raise HfInputError(f"needs the `tokenizers` package ({e}); run scripts/setup-python "
                           "and use .venv/bin/python")
    model_dir = Path(model_dir)
    single = model_dir / "tokenizer.json"
    vocab, merges = model_dir / "vocab.json", model_dir / "merges.txt"
    try:
        if single.is_file():
            return Tokenizer.from_file(str(single))
        if vocab.is_file() and merges.is_file():
            # GPT-2 byte-level BPE (OPT): no prefix space, bytes mapped to printable characters.
            bpe = models.BPE.from_file(str(vocab), str(merges))
            tok = Tokenizer(bpe)
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            return tok
    except Exception as e:  # the library reports malformed files with its own exceptions
        raise HfInputError(f"{model_dir}: cannot read the tokenizer ({e})")
    raise HfInputError(f"{model_dir}: no tokenizer.json (or vocab.json + merges.txt)")


def has_tokenizer(model_dir):
    d = Path(model_dir)
    return (d / "tokenizer.json").is_file() or ((d / "vocab.json").is_file()
                                                and (d / "merges.txt").is_file())


def tokenizer_fingerprint(tok):
    """"hf:<16 hex>": a hash of the token -> id map (added tokens included). The same for a
    model's tokenizer.json and its vocab.json + merges.txt; recorded in datasets (attribute
    `tokenizer`) and decks (model.tokenizer) so that a mismatch is refused."""
    items = sorted(tok.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
    digest = hashlib.sha256(json.dumps(items, ensure_ascii=False).encode("utf-8")).hexdigest()
    return "hf:" + digest[:16]


def tokenizer_vocab(tok):
    """Ids run over [0, vocab): one more than the largest id."""
    return max(tok.get_vocab(with_added_tokens=True).values()) + 1


def special_ids(tok, model_dir):
    """{"bos", "eos", "pad"}: ids from config.json (bos/eos/pad_token_id) when given, else the
    usual token strings of the vocabulary; -1 when there is none (pad falls back to eos)."""
    ids = {"bos": None, "eos": None, "pad": None}
    cfg_path = Path(model_dir) / "config.json"
    if cfg_path.is_file():
        cfg = read_json(cfg_path)
        if isinstance(cfg, dict):
            for k in ids:
                v = cfg.get(f"{k}_token_id")
                if isinstance(v, int) and not isinstance(v, bool):
                    ids[k] = v
    names = {"bos": ("<s>", "</s>", "<|endoftext|>"), "eos": ("</s>", "<|endoftext|>"),
             "pad": ("<pad>",)}
    for k, candidates in names.items():
        if ids[k] is None:
            ids[k] = next((tok.token_to_id(c) for c in candidates if tok.token_to_id(c) is not None),
                          -1)
    if ids["pad"] < 0:
        ids["pad"] = ids["eos"]
    return ids
