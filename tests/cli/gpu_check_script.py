#!/usr/bin/env python3
"""scripts/gpu_check and scripts/gpu_bring_deps without a GPU: both parse (bash -n) and pass
shellcheck; `gpu_check --dry-run` prints every step in order with the commands the issue
asks for (Kokkos and zoptimus builds, the GPU tests, CPU-vs-GPU loss, bench forward and zo
of both OPT shapes, PyTorch, offload) and runs none of them (no build folder appears); a
bad --steps value is refused. Exits 77 (CTest: skipped) when shellcheck is not installed.
"""
import argparse
import os
import shutil
import subprocess
import sys

SKIP = 77


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    a = ap.parse_args()
    check = os.path.join(a.root, "scripts", "gpu_check")
    bring = os.path.join(a.root, "scripts", "gpu_bring_deps")
    for script in (check, bring):
        r = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
        assert r.returncode == 0, f"bash -n {script}: {r.stderr}"

    before = set(os.listdir(a.root))
    r = subprocess.run([check, "--dry-run", "--jobs", "3"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"--dry-run failed ({r.returncode}): {r.stdout}{r.stderr}"
    out = r.stdout
    created = set(os.listdir(a.root)) - before
    assert not created, f"--dry-run created {sorted(created)}"

    steps = ["deps", "kokkos", "build", "tests", "loss", "bench", "torch", "offload"]
    positions = [out.find(f"== gpu_check: {s}") for s in steps]
    assert all(p >= 0 for p in positions), f"missing steps in:\n{out}"
    assert positions == sorted(positions), f"steps out of order:\n{out}"
    expected = [
        "scripts/build-kokkos-cuda", "-DKokkos_ENABLE_SERIAL=ON", "-DZOPTIMUS_ENABLE_CUDA=ON",
        "-DZOPTIMUS_ENABLE_CUDA=OFF", "--parallel 3", "-L gpu",
        "eval inputs/tiny.toml", "train inputs/tiny.toml",
        "bench forward inputs/opt-125m-shape.toml", "bench zo inputs/opt-125m-shape.toml",
        "bench forward inputs/opt-1.3b-shape.toml", "bench zo inputs/opt-1.3b-shape.toml",
        "scripts/gpu_torch_peer.py inputs/opt-1.3b-shape.toml", "optim.offload=true",
    ]
    for e in expected:
        assert e in out, f"--dry-run does not show '{e}':\n{out}"
    assert out.rstrip().endswith("gpu_check: done (steps: " + ",".join(steps) + ")"), out

    # Only the steps asked for.
    r = subprocess.run([check, "--dry-run", "--steps", "tests"], capture_output=True, text=True)
    assert r.returncode == 0 and "-L gpu" in r.stdout and "bench" not in r.stdout, r.stdout
    r = subprocess.run([check, "--dry-run", "--steps", "tests,bogus"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "unknown step 'bogus'" in r.stderr, (r.returncode, r.stderr)

    if not shutil.which("shellcheck"):
        print("gpu_check_script: SKIPPED: shellcheck is not installed (bash -n and --dry-run "
              "passed)")
        return SKIP
    for script in (check, bring):
        r = subprocess.run(["shellcheck", script], capture_output=True, text=True)
        assert r.returncode == 0, f"shellcheck {script}:\n{r.stdout}{r.stderr}"
    print("gpu_check_script: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
