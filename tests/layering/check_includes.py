#!/usr/bin/env python3
"""Fails when a source file includes a header of a layer above its own.

Layers, bottom to top (docs/design.md, "Layers"):

    core < parallel < linalg < kernels < model < optim < io < train < apps

A file under src/<layer>/ (any depth) or apps/ may include headers of its own layer and of
the layers below it, never above: core is plain C++ (config, errors, timers, state
dictionaries); parallel the mesh and collectives; linalg GEMM and SUMMA; kernels the Kokkos
kernels; model the partitioned transformer; optim the ZO optimizers, which see the model
only through optim/objective.hpp; io the HDF5 files (checkpoints serialise optim's state
dictionaries); train the loop that wires a session, an optimizer and the logs; apps the CLI.

Usage:
    check_includes.py [ROOT]      check the tree at ROOT (default: the repository); exit 1 on
                                  any upward include, listing each one
    check_includes.py --self-test check that an upward include injected into a copy of the
                                  tree is caught, and that the untouched copy passes
"""

import re
import shutil
import sys
import tempfile
from pathlib import Path

LAYERS = ["core", "parallel", "linalg", "kernels", "model", "optim", "io", "train", "apps"]
RANK = {name: i for i, name in enumerate(LAYERS)}

# Known upward includes that another part of the same change removes. Each entry is
# (file relative to ROOT, included header); an entry that no longer matches is reported so
# that it can be deleted.
EXCEPTIONS: set = set()

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)
SOURCE_SUFFIXES = {".hpp", ".cpp", ".h", ".in", ".cu"}


def layer_of(root: Path, path: Path):
    rel = path.relative_to(root).parts
    if rel[0] == "apps":
        return "apps"
    if rel[0] == "src" and len(rel) > 2 and rel[1] in RANK:
        return rel[1]
    return None


def violations(root: Path):
    found, used = [], set()
    for path in sorted(list((root / "src").rglob("*")) + list((root / "apps").rglob("*"))):
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file():
            continue
        layer = layer_of(root, path)
        if layer is None:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in INCLUDE.finditer(text):
            header = m.group(1)
            target = header.split("/", 1)[0]
            if "/" not in header or target not in RANK:
                continue  # a local or generated header, not a layer
            if RANK[target] <= RANK[layer]:
                continue
            rel = path.relative_to(root).as_posix()
            if (rel, header) in EXCEPTIONS:
                used.add((rel, header))
                continue
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"{rel}:{line}: layer '{layer}' includes \"{header}\" from the higher "
                         f"layer '{target}'")
    return found, EXCEPTIONS - used


def check(root: Path) -> int:
    found, stale = violations(root)
    for rel, header in sorted(stale):
        print(f"note: exception ({rel}, {header}) no longer needed; delete it from {__file__}")
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} upward include(s); allowed order: {' < '.join(LAYERS)}")
        return 1
    print(f"layering ok: no upward includes ({' < '.join(LAYERS)})")
    return 0


def self_test(root: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "tree"
        for part in ("src", "apps"):
            shutil.copytree(root / part, copy / part)
        if violations(copy)[0]:
            print("self-test: the untouched copy already has upward includes")
            return 1
        cases = [("src/core/config.cpp", "train/trainer.hpp"),
                 ("src/model/transformer.hpp", "optim/objective.hpp"),
                 ("src/optim/zo_optimizer.cpp", "io/checkpoint.hpp"),
                 ("src/parallel/mesh.hpp", "linalg/gemm.hpp")]
        for rel, header in cases:
            victim = copy / rel
            original = victim.read_text()
            victim.write_text(f'#include "{header}"\n' + original)
            found = violations(copy)[0]
            victim.write_text(original)
            if not any(v.startswith(f"{rel}:1:") and header in v for v in found):
                print(f"self-test: upward include of {header} in {rel} was not caught")
                return 1
            print(f"self-test: caught {rel} -> {header}")
        # Allowed directions stay allowed: a downward include is not reported.
        victim = copy / "src/train/trainer.cpp"
        victim.write_text('#include "core/error.hpp"\n' + victim.read_text())
        if violations(copy)[0]:
            print("self-test: a downward include was reported")
            return 1
    print("self-test ok")
    return 0


def main(argv):
    default_root = Path(__file__).resolve().parents[2]
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test(Path(argv[2]) if len(argv) > 2 else default_root)
    return check(Path(argv[1]) if len(argv) > 1 else default_root)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
