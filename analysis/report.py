"""One command from a sweep directory to a report folder: table (CSV + Markdown), every plot,
the fitted model, its validation, predictions per machine file, the Extra-P inputs, and a
Markdown summary linking them."""
from __future__ import annotations

import glob
import math
import os
import re

import numpy as np

from . import anderson, extrap, perfmodel, plots, ppscaling, scaling
from .runlog import read_sweep

MACHINES_DIR = os.path.join(os.path.dirname(__file__), "machines")
DEVICES = (16, 64, 256, 1024)


def default_machines() -> list[str]:
    return sorted(glob.glob(os.path.join(MACHINES_DIR, "*.toml")))


def validate(runs, holdout: str | None, max_fit_ranks: int | None = None):
    """Fits on the runs not matched by `holdout` (a regex on <sweep>/<point>) and with at most
    max_fit_ranks ranks; predicts every run. Returns (machine dict, rows)."""
    rx = re.compile(holdout) if holdout else None
    held = [bool(rx and rx.search(r.label)) for r in runs]
    train = [r for r, h in zip(runs, held)
             if not h and (max_fit_ranks is None or r.mesh.ranks <= max_fit_ranks)]
    m = perfmodel.fit(train)
    rows = []
    for r, h in zip(runs, held):
        meas = r.step_stat()
        pred = perfmodel.predict(r.problem, r.mesh, m)["step_s"]
        rows.append({"point": r.label, "mesh": r.mesh.label(), "ranks": r.mesh.ranks,
                     "W_gflop": r.problem.step_flops(r.mesh.dp) / 1e9, "held_out": h,
                     "measured_s": meas, "predicted_s": pred, "error": pred / meas - 1})
    return m, rows


def _md_table(rows: list[dict], cols: list[str]) -> str:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(scaling._fmt(r[c]) for c in cols) + " |")
    return "\n".join(out) + "\n"


def build(root: str, out: str, machines=None, E: float = 0.5, holdout: str | None = None,
          max_fit_ranks: int | None = None, predict_problem=None) -> dict:
    """predict_problem: the costs.Problem for the machine-file predictions (default: the
    sweep's base problem, i.e. its fewest-rank run's)."""
    runs = read_sweep(root)
    if not runs:
        raise SystemExit(f"analysis: no finished run logs (run_<n>.h5) under {root}")
    os.makedirs(out, exist_ok=True)
    meta = scaling.sweep_meta(root)
    rows = scaling.table(runs, meta)
    scaling.write_csv(rows, os.path.join(out, "table.csv"))
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(scaling.markdown(rows))
    figs = {}
    figs["strong"] = plots.scaling(rows, "strong", os.path.join(out, "strong_scaling.png"))
    figs["weak"] = plots.scaling(rows, "weak", os.path.join(out, "weak_scaling.png"))
    figs["breakdown"] = plots.breakdown(rows, os.path.join(out, "breakdown.png"))
    figs["comm"] = plots.comm_bytes(rows, os.path.join(out, "comm_bytes.png"))
    figs["loss"], cross = plots.loss_curves(runs, os.path.join(out, "loss.png"))

    # performance model: fit and validation
    fitted, val = None, []
    try:
        # the model prices all n directions per rank: pp runs are reported on their own
        fitted, val = validate([r for r in runs if r.mesh.pp == 1], holdout, max_fit_ranks)
        with open(os.path.join(out, "fitted_machine.toml"), "w") as f:
            f.write("# Performance model constants fitted to this sweep (analysis.perfmodel)\n")
            f.write(perfmodel.machine_toml(fitted))
    except ValueError as e:
        print(f"analysis: no model fit: {e}")
    figs["model_fit"] = plots.model_fit(val, os.path.join(out, "model_fit.png"))

    # isoefficiency: measured per mode (1-rank runs of either mode are the serial time)
    serial = [(r.problem.step_flops(), 1, r.step_stat())
              for r in runs if r.mesh.ranks == 1]
    measured, analytic = {}, {}
    base = min(runs, key=lambda r: (r.mesh.ranks, r.problem.step_flops()))
    ranks_axis = sorted({r.mesh.ranks for r in runs} | {4, 16, 64})
    for mode in ("2d", "1d"):
        pts = serial + [(r.problem.step_flops(), r.mesh.ranks, r.step_stat())
                        for r in runs if r.mesh.mode == mode and r.mesh.dp == 1 and r.mesh.pp == 1
                        and r.mesh.ranks > 1]
        if serial and len(pts) > len(serial):
            try:
                measured[mode] = scaling.isoefficiency(pts, E)
            except ValueError:
                pass
        if fitted:
            ps = [p for p in ranks_axis if p > 1]
            W = np.array(perfmodel.analytic_isoefficiency(base.problem, mode, ps, E, fitted))
            ok = np.isfinite(W)
            k = float(np.polyfit(np.log(np.array(ps)[ok]), np.log(W[ok]), 1)[0]) if ok.sum() >= 2 else math.nan
            analytic[mode] = (ps, W, k)
    figs["isoefficiency"] = plots.isoefficiency(measured, analytic, E,
                                                os.path.join(out, "isoefficiency.png"))

    # predictions per machine file
    pred = predict_problem or base.problem
    mach_rows = []
    for mf in machines or default_machines():
        m = perfmodel.load_machine(mf)
        name = os.path.splitext(os.path.basename(mf))[0]
        figs[f"pred_{name}"] = plots.predictions(pred, m, os.path.join(out, f"predict_{name}.png"))
        for nodes in (1, 4, 16, 64):
            best = perfmodel.which_mesh(pred, nodes, m)
            if best:
                b = best[0]
                mach_rows.append({"machine": m["name"], "nodes": nodes, "mesh": b["mesh"],
                                  "ranks": b["ranks"], "step_ms": b["step_s"] * 1e3,
                                  "memory_MiB": b["memory_bytes"] / 2**20, "fits": b["fits"]})
            else:
                mach_rows.append({"machine": m["name"], "nodes": nodes, "mesh": "(none admissible)",
                                  "ranks": nodes * m["devices_per_node"], "step_ms": math.nan,
                                  "memory_MiB": math.nan, "fits": False})

    # Extra-P inputs, one per partitioning
    extrap_files = []
    for fam in sorted({r.mesh.family() for r in runs}):
        mine = [r for r in runs if r.mesh.family() == fam]
        if len({r.mesh.ranks for r in mine}) >= 2:
            p = os.path.join(out, f"extrap_{fam}.txt")
            extrap.export(mine, p)
            extrap_files.append(p)

    summary = _summary(root, rows, figs, val, fitted, measured, analytic, E, cross, mach_rows,
                       extrap_files, holdout, max_fit_ranks, pred)
    pp_rows = ppscaling.pp_table(runs)
    if pp_rows:
        cols = list(pp_rows[0])
        with open(os.path.join(out, "pp_scaling.md"), "w") as f:
            f.write(_md_table(pp_rows, cols))
        summary += ("\n## Strong scaling in n (perturbation parallelism)\n\nRuns that differ "
                    "only in parallel.pp, against the smallest pp; pp bytes per rank measured "
                    "(/ranks/pp_allreduce_bytes_sent) and closed form (2n losses per step).\n\n"
                    + _md_table(pp_rows, cols))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(summary)
    return {"pp": pp_rows, "rows": rows, "figures": figs, "validation": val, "fitted": fitted,
            "isoefficiency": measured, "analytic": analytic, "crossovers": cross,
            "which_mesh": mach_rows, "extrap": extrap_files}


def _summary(root, rows, figs, val, fitted, measured, analytic, E, cross, mach_rows,
             extrap_files, holdout, max_fit_ranks, pred) -> str:
    rel = os.path.basename
    s = [f"# Scaling report: {root}\n",
         f"{len(rows)} runs. Full table: [table.csv](table.csv), [table.md](table.md).\n",
         scaling.markdown(rows), "\n## Scaling\n",
         f"![strong]({rel(figs['strong'])})\n", f"![weak]({rel(figs['weak'])})\n",
         "\n## Per-step breakdown\n", f"![breakdown]({rel(figs['breakdown'])})\n",
         "\n## Communication volume\n",
         "Measured received bytes per rank against the closed forms of analysis/costs.py.\n",
         f"![comm]({rel(figs['comm'])})\n", "\n## Isoefficiency\n"]
    for mode, (p, W, k, c) in measured.items():
        s.append(f"- {mode} measured: W(E={E:g}) at p = {list(map(int, p))}: "
                 f"{[f'{w / 1e9:.3g}' for w in W]} GFLOP/step, exponent k = {k:.3f}\n")
    for mode, (p, W, k) in analytic.items():
        s.append(f"- {mode} model: exponent k = {k:.3f}\n")
    s.append(f"\n![isoefficiency]({rel(figs['isoefficiency'])})\n")
    s.append("\n## Loss curves and Anderson extrapolation\n")
    s.append(f"![loss]({rel(figs['loss'])})\n")
    if cross:
        s.append(_md_table(cross, ["anderson", "plain", "crossover_step", "crossover_wall_s",
                                   "penalty_s_per_step", "penalty_fraction"]))
    else:
        s.append("No Anderson run with a plain counterpart in this sweep.\n")
    s.append("\n## Performance model\n")
    if fitted:
        s.append(f"Fitted constants: [fitted_machine.toml](fitted_machine.toml): GEMM "
                 f"{fitted['gemm_gflops']:.3g} GFLOP/s, memory {fitted['mem_bw_gbs']:.3g} GB/s, "
                 f"RNG {fitted['rng_ns_per_param']:.3g} ns/parameter + "
                 f"{fitted['rng_tensor_us']:.3g} us/tensor block, kernel launch "
                 f"{fitted['kernel_launch_us']:.3g} us, alpha "
                 f"{fitted['intra']['alpha_us']:.3g} us, bandwidth {fitted['intra']['bw_gbs']:.3g} GB/s, "
                 f"overhead {fitted['step_overhead_us']:.3g} us/step. Fitted on runs"
                 f"{' with at most %d ranks' % max_fit_ranks if max_fit_ranks else ''}"
                 f"{' not matching /%s/' % holdout if holdout else ''}.\n\n")
        s.append(_md_table(val, ["point", "mesh", "held_out", "measured_s", "predicted_s", "error"]))
        if fitted.get("model_parallel_runs", 0) < 2:
            s.append("\n**Warning:** fewer than 2 fitted runs had model-parallel communication "
                     "(1D t>1 or 2D q>1), so alpha and bandwidth rest on the loss scalars "
                     "alone; predictions of model-parallel runs are not validated.\n")
        held = [v for v in val if v["held_out"]]
        if held:
            worst = max(abs(v["error"]) for v in held)
            s.append(f"\nHeld-out runs: {len(held)}, worst error {100 * worst:.1f}%.\n")
    s.append(f"\n![model fit]({rel(figs['model_fit'])})\n")
    s.append(f"\n## Predictions ({pred.params() / 1e6:.4g} M parameters, {pred.layers} layers, "
             f"hidden {pred.hidden}, batch {pred.batch} x {pred.seq_len}) from the machine files\n\n"
             "Model curves price every square (2D) or any (1D) device count as if the shapes "
             "divided; the which-mesh table below keeps only admissible meshes.\n\n")
    for k, v in figs.items():
        if k.startswith("pred_"):
            s.append(f"![{k}]({rel(v)})\n")
    s.append("\nWhich mesh (fastest admissible mesh filling N nodes, model prediction):\n\n")
    s.append(_md_table(mach_rows, ["machine", "nodes", "mesh", "ranks", "step_ms", "memory_MiB", "fits"]))
    s.append("\n## Extra-P\n")
    if extrap_files:
        s.append("Inputs for `extrap --text FILE`: " + ", ".join(f"[{rel(p)}]({rel(p)})" for p in extrap_files) + "\n")
    else:
        s.append("No partitioning was run at two or more rank counts.\n")
    return "".join(s)
