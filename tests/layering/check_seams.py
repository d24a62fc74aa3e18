#!/usr/bin/env python3
"""Fails when a backend seam is bypassed (docs/design.md, "Seams"):

- MPI collectives and point-to-point calls appear only in src/parallel/ (everything else goes
  through Collectives, or the control-plane helpers of parallel/control_collectives.hpp);
- HDF5 files, datasets and attributes are opened only in the HDF5 layer (src/io/hdf5_*).

Usage: check_seams.py [ROOT]      exit 1 listing each offending line
       check_seams.py --self-test check that a violation injected into a copy is caught
"""

import re
import shutil
import sys
import tempfile
from pathlib import Path

MPI_CALL = re.compile(r"\bMPI_(Allreduce|Bcast|Ibcast|Reduce|Allgather|Send|Recv|Barrier)\(")
H5_OPEN = re.compile(r"\b(H5Fopen|H5Dopen2|H5Aopen)\(")


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "src").rglob("*")):
        if path.suffix not in {".cpp", ".hpp"}:
            continue
        rel = path.relative_to(root).as_posix()
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if MPI_CALL.search(line) and not rel.startswith("src/parallel/"):
                found.append(f"{rel}:{n}: MPI call outside src/parallel: {line.strip()}")
            if H5_OPEN.search(line) and not rel.startswith("src/io/hdf5_"):
                found.append(f"{rel}:{n}: HDF5 open outside the HDF5 layer: {line.strip()}")
    return found


def self_test(root: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "tree"
        shutil.copytree(root / "src", copy / "src")
        before = len(violations(copy))
        target = copy / "src" / "optim" / "zo_optimizer.cpp"
        target.write_text(target.read_text() + "\n// MPI_Barrier(MPI_COMM_WORLD);\n"
                          "// H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);\n")
        found = violations(copy)
        if len(found) - before != 2:
            print(f"self-test: expected the 2 injected violations to be caught, got {found}")
            return 1
    print("self-test: injected MPI call and HDF5 open were caught")
    return 0


def main() -> int:
    args = sys.argv[1:]
    root = Path(__file__).resolve().parents[2]
    if args and args[0] == "--self-test":
        return self_test(Path(args[1]) if len(args) > 1 else root)
    if args:
        root = Path(args[0])
    found = violations(root)
    for line in found:
        print(line)
    print("seams ok" if not found else f"{len(found)} seam violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
