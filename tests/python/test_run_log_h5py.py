#!/usr/bin/env python3
"""Run logs written by test_run_log are readable by h5dump -H and h5py, with the documented layout."""
import argparse
import math
import subprocess
import sys

import h5py
import numpy as np

STEP_FIELDS = ["step", "seed", "lr", "skipped", "step_seconds", "forward_seconds",
               "comm_seconds", "rng_seconds", "update_seconds", "io_seconds"]
PERTURB_FIELDS = ["loss_plus", "loss_minus", "projected_grad"]
RAGGED = ["active_layers", "anderson_coeffs"]

failures = []


def expect(condition, message):
    if not condition:
        failures.append(message)


def check_h5dump(h5dump, path):
    result = subprocess.run([h5dump, "-H", path], capture_output=True, text=True)
    expect(result.returncode == 0, f"h5dump -H {path} exited {result.returncode}: {result.stderr}")
    for name in ["steps", "eval", "loss_plus", "active_layers_offsets", "format_version"]:
        expect(name in result.stdout, f"h5dump -H {path} does not show {name}")


def check_steps(f, path, min_steps):
    steps = f["steps"]
    n_perturb = int(steps.attrs["n_perturb"])
    n = steps["step"].shape[0]
    expect(n >= min_steps, f"{path}: {n} steps, expected at least {min_steps}")
    for name in STEP_FIELDS:
        expect(steps[name].shape == (n,), f"{path}: /steps/{name} shape {steps[name].shape}")
    expect(steps["step"].dtype == np.int64 and steps["seed"].dtype == np.uint64
           and steps["skipped"].dtype == np.int8, f"{path}: step/seed/skipped dtypes")
    for name in PERTURB_FIELDS:
        expect(steps[name].shape == (n, n_perturb), f"{path}: /steps/{name} shape")
        expect(steps[name].dtype == np.float64, f"{path}: /steps/{name} dtype")
    for name in RAGGED:
        offsets = steps[name + "_offsets"][...]
        expect(offsets.shape == (n + 1,) and offsets[0] == 0, f"{path}: {name}_offsets")
        expect(bool(np.all(np.diff(offsets) >= 0)), f"{path}: {name}_offsets decrease")
        expect(offsets[-1] == steps[name].shape[0], f"{path}: {name}_offsets[-1] != len")
    # The test's records: step 1000 + i, ragged LeZO subsets of length i % 5.
    expect(list(steps["step"][...]) == list(range(1000, 1000 + n)), f"{path}: step values")
    lengths = np.diff(steps["active_layers_offsets"][...])
    expect(list(lengths) == [i % 5 for i in range(n)], f"{path}: active_layers lengths")
    return n


def check_ranks(f, path, ranks):
    group = f["ranks"]
    for name in ["row_bcast_bytes_sent", "dp_allreduce_calls", "col_transpose_seconds",
                 "peak_rss_bytes", "tokens_per_second", "even_only"]:
        expect(name in group, f"{path}: /ranks/{name} missing")
    for name, dset in group.items():
        values = dset[...].astype(np.float64)
        expect(values.shape == (ranks,), f"{path}: /ranks/{name} shape {values.shape}")
        finite = values[~np.isnan(values)]
        for attr, want in [("min", finite.min()), ("max", finite.max()), ("avg", finite.mean())]:
            got = float(dset.attrs[attr])
            expect(math.isclose(got, want, rel_tol=1e-12),
                   f"{path}: /ranks/{name}@{attr} = {got}, expected {want}")
    expect(list(group["row_bcast_bytes_sent"][...]) == [1000 * (r + 1) for r in range(ranks)],
           f"{path}: row_bcast_bytes_sent values")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--killed", required=True)
    parser.add_argument("--ranks", type=int, required=True)
    parser.add_argument("--h5dump", default="")
    args = parser.parse_args()

    if args.h5dump:
        check_h5dump(args.h5dump, args.log)
        check_h5dump(args.h5dump, args.killed)

    with h5py.File(args.log, "r") as f:
        expect(f.attrs["format"] == "zoptimus-runlog", "format attribute")
        expect(int(f.attrs["format_version"]) == 1, "format_version attribute")
        expect(int(f.attrs["world_size"]) == args.ranks, "world_size attribute")
        expect("n_perturb = 2" in f.attrs["deck"], "deck attribute lacks n_perturb = 2")
        expect("end_time" in f.attrs, "finished log has no end_time")
        expect(check_steps(f, args.log, 120) == 120, "finished log does not hold 120 steps")
        expect(f["eval/step"].shape == (4,), "eval rows")
        check_ranks(f, args.log, args.ranks)

    with h5py.File(args.killed, "r") as f:
        expect("end_time" not in f.attrs, "killed log has an end_time")
        expect("ranks" not in f, "killed log has /ranks")
        check_steps(f, args.killed, 50)

    for message in failures:
        print("FAIL:", message)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
