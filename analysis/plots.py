"""Every figure of the report, as PNG files (labelled axes with units, legends)."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import anderson, perfmodel, runlog  # noqa: E402
from .costs import Mesh  # noqa: E402

STYLE = {"2d": dict(color="tab:blue", marker="o"), "1d": dict(color="tab:orange", marker="s")}


def _style(family: str) -> dict:
    base = dict(STYLE.get(family.split("+")[0], dict(color="tab:gray", marker="^")))
    if "+dp" in family:
        base["linestyle"] = "--"
        base["marker"] = "D" if family.startswith("2d") else "v"
    return base


def _save(fig, path: str) -> str:
    from matplotlib.ticker import FuncFormatter
    for ax in fig.get_axes():  # plain numbers on log axes (16, 64, not 2^4, 2^6)
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9,
            color="gray", wrap=True)


def scaling(rows: list[dict], kind: str, path: str) -> str:
    """Strong: speedup and efficiency against ranks; weak: efficiency (and step time)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    sel = [r for r in rows if r["scaling"] == kind]
    fams = sorted({r["family"] for r in sel})
    for fam in fams:
        rs = sorted((r for r in sel if r["family"] == fam), key=lambda r: r["ranks"])
        p = [r["ranks"] for r in rs]
        if kind == "strong":
            a1.plot(p, [r["speedup"] for r in rs], label=fam, **_style(fam))
        else:
            a1.plot(p, [r["step_median_s"] * 1e3 for r in rs], label=fam, **_style(fam))
        a2.plot(p, [r["efficiency"] for r in rs], label=fam, **_style(fam))
    if sel:
        pmax = max(r["ranks"] for r in sel)
        pmin = min(r["ranks"] for r in sel)
        if kind == "strong":
            a1.plot([pmin, pmax], [pmin, pmax], "k:", label="ideal")
        a2.axhline(1.0, color="k", linestyle=":", label="ideal")
    else:
        _note(a1, f"no {kind}-scaling runs in this sweep")
    a1.set_xscale("log", base=2)
    a2.set_xscale("log", base=2)
    a1.set_xlabel("MPI ranks")
    a2.set_xlabel("MPI ranks")
    if kind == "strong":
        a1.set_yscale("log", base=2)
        a1.set_ylabel("speedup  T(p0) p0 / T(p)")
        a1.set_title("Strong scaling: speedup")
    else:
        a1.set_ylabel(f"{runlog.STATISTIC} step time (ms)")
        a1.set_title("Weak scaling: step time")
    a2.set_ylabel("parallel efficiency")
    a2.set_ylim(0, max(1.2, max([r["efficiency"] for r in sel] + [0]) * 1.1))
    a2.set_title(f"{kind.capitalize()} scaling: efficiency")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    return _save(fig, path)


def breakdown(rows: list[dict], path: str) -> str:
    parts = [("compute_s", "compute"), ("comm_s", "comm (blocking)"), ("rng_s", "RNG perturb+update"),
             ("update_s", "update"), ("io_s", "I/O"), ("other_s", "other")]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows) + 2), 4.5), layout="constrained")
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for key, name in parts:
        v = np.array([r[key] * 1e3 if not math.isnan(r[key]) else 0.0 for r in rows])
        if v.any():
            ax.bar(x, v, bottom=bottom, label=name)
            bottom += v
    ax.set_xticks(x, [f'{r["mesh"]}\nW={r["W_gflop"]:.3g}' for r in rows], rotation=60,
                  ha="right", fontsize=7)
    ax.set_ylabel(f"{runlog.STATISTIC} time per step (ms)")
    ax.set_title("Per-step breakdown (1D and 2D side by side)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def comm_bytes(rows: list[dict], path: str) -> str:
    """Left: received bytes per rank against ranks, closed form (lines) and measured
    (markers), per sweep kind and partitioning. Right: measured against closed form."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    multi = rows and len({r["scaling"] for r in rows}) > 1
    for kind in sorted({r["scaling"] for r in rows}):
        for fam in sorted({r["family"] for r in rows}):
            rs = sorted((r for r in rows if r["family"] == fam and r["scaling"] == kind
                         and r["ranks"] > 1), key=lambda r: (r["ranks"], r["W_gflop"]))
            if not rs:
                continue
            st = _style(fam)
            lab = f"{kind} {fam}" if multi else fam
            ls = ":" if kind == "weak" and multi else st.get("linestyle", "-")
            ax.plot([r["ranks"] for r in rs], [r["comm_MB_formula"] for r in rs],
                    color=st["color"], linestyle=ls, marker="_", markersize=16,
                    label=f"{lab} closed form")
            ax.scatter([r["ranks"] for r in rs], [r["comm_MB_per_rank"] for r in rs],
                       color=st["color"], marker=st["marker"], s=50, facecolors="none",
                       label=f"{lab} measured")
            ax2.scatter([r["comm_MB_formula"] for r in rs], [r["comm_MB_per_rank"] for r in rs],
                        color=st["color"], marker=st["marker"], s=50, facecolors="none", label=lab)
    if not ax.get_legend_handles_labels()[0]:
        _note(ax, "only 1-rank runs: no communication")
    else:
        hi = max(max(r["comm_MB_formula"], r["comm_MB_per_rank"]) for r in rows) * 1.05
        ax2.plot([0, hi], [0, hi], "k-", lw=1, label="measured = closed form")
        ax2.legend(fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel("received bytes per rank, whole run (MB)")
    ax.set_title("Communication volume per rank")
    ax2.set_xlabel("closed form (MB per rank)")
    ax2.set_ylabel("measured (MB per rank)")
    ax2.set_title("Measured against closed form")
    for a in (ax, ax2):
        a.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return _save(fig, path)


def isoefficiency(measured: dict, analytic: dict, E: float, path: str) -> str:
    """measured: family -> (p, W, k, c); analytic: family -> (p list, W list, k)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    for fam, (p, W, k, c) in measured.items():
        st = _style(fam)
        if len(p):
            ax.scatter(p, np.array(W) / 1e9, color=st["color"], marker=st["marker"], s=50,
                       label=f"{fam} measured" + (f" (k={k:.2f})" if np.isfinite(k) else ""))
            if np.isfinite(k):
                pp = np.geomspace(min(p), max(p), 20)
                ax.plot(pp, c * pp ** k / 1e9, color=st["color"], linestyle="-")
    for fam, (p, W, k) in analytic.items():
        st = _style(fam)
        ok = np.isfinite(W)
        if ok.any():
            ax.plot(np.array(p)[ok], np.array(W)[ok] / 1e9, color=st["color"], linestyle="--",
                    label=f"{fam} model" + (f" (k={k:.2f})" if np.isfinite(k) else ""))
    if not ax.get_legend_handles_labels()[0]:
        _note(ax, "no isoefficiency: needs 1-rank runs and several problem sizes per rank count")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("MPI ranks p")
    ax.set_ylabel(f"problem size W for efficiency {E:g} (GFLOP/step)")
    ax.set_title(f"Isoefficiency at E = {E:g}: W = c p^k")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)


def loss_curves(runs, path: str) -> tuple[str, list[dict]]:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    seen = set()
    for r in runs:
        key = (r.method, r.mesh.label())
        if key in seen:
            continue
        seen.add(key)
        lab = f"{r.method} ({r.mesh.label()})"
        steps = r.steps["step"] + 1
        a1.plot(steps, r.loss(), label=lab, lw=1)
        a2.plot(anderson.wall(r), r.loss(), label=lab, lw=1)
    found = []
    for a, p in anderson.pairs(runs):
        c = anderson.crossover(a, p)
        found.append(c)
        if c["crossover_step"]:
            a1.axvline(c["crossover_step"], color="k", linestyle=":", lw=1,
                       label=f"crossover step {c['crossover_step']}")
        if c["crossover_wall_s"]:
            a2.axvline(c["crossover_wall_s"], color="k", linestyle=":", lw=1,
                       label=f"crossover {c['crossover_wall_s']:.3g} s "
                             f"(penalty {100 * c['penalty_fraction']:+.0f}%/step)")
    a1.set_xlabel("step")
    a2.set_xlabel("wall time (s, sum of step times)")
    for a in (a1, a2):
        a.set_ylabel("training loss (mean of l+ and l-)")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    a1.set_title("Loss against steps")
    a2.set_title("Loss against wall time")
    return _save(fig, path), found


def model_fit(val: list[dict], path: str) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
    for held, mk, lab in ((False, "o", "fitted on"), (True, "x", "held out")):
        v = [x for x in val if x["held_out"] == held]
        if v:
            ax.scatter([x["measured_s"] * 1e3 for x in v], [x["predicted_s"] * 1e3 for x in v],
                       marker=mk, s=50, label=lab)
    if val:
        lo = min(min(x["measured_s"], x["predicted_s"]) for x in val) * 1e3 * 0.7
        hi = max(max(x["measured_s"], x["predicted_s"]) for x in val) * 1e3 * 1.4
        xs = np.geomspace(lo, hi, 10)
        ax.plot(xs, xs, "k-", lw=1, label="exact")
        ax.fill_between(xs, xs * 0.75, xs * 1.25, color="gray", alpha=0.2, label="within 25%")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(f"measured {runlog.STATISTIC} step time (ms)")
    ax.set_ylabel("model step time (ms)")
    ax.set_title("Performance model: fit and held-out runs")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def predictions(pb, machine: dict, path: str, devices=(16, 64, 256, 1024), measured=None) -> str:
    """Model curves of 1D and 2D step time, efficiency and memory per device at 16-1024
    devices; measured points on top when given (rows of the sweep table)."""
    fig, axs = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
    for mode in ("2d", "1d"):
        ps, t, e, mem = [], [], [], []
        for n in devices:
            # the model is continuous: shapes that do not divide are priced as if they did
            mesh = Mesh.from_ranks(mode, n)
            if mesh is None:
                continue
            pr = perfmodel.predict(pb, mesh, machine)
            ps.append(n)
            t.append(pr["step_s"] * 1e3)
            e.append(perfmodel.efficiency(pb, mesh, machine))
            mem.append(pr["memory_bytes"] / 2**20)
        st = _style(mode)
        if ps:
            axs[0].plot(ps, t, label=f"{mode.upper()} model", **st)
            axs[1].plot(ps, e, label=f"{mode.upper()} model", **st)
            axs[2].plot(ps, mem, label=f"{mode.upper()} model", **st)
    if measured:
        for fam in sorted({r["family"] for r in measured}):
            rs = sorted((r for r in measured if r["family"] == fam), key=lambda r: r["ranks"])
            st = _style(fam)
            axs[0].scatter([r["ranks"] for r in rs], [r["step_median_s"] * 1e3 for r in rs],
                           color=st["color"], marker="*", s=80, label=f"{fam} measured")
    axs[2].axhline(machine["device_memory_gb"] * 1024, color="r", linestyle=":", label="device memory")
    titles = ("step time (ms)", "parallel efficiency vs 1 device", "memory per device (MiB)")
    for a, ttl in zip(axs, titles):
        a.set_xscale("log", base=2)
        a.set_xlabel("devices (ranks)")
        a.set_ylabel(ttl)
        a.grid(alpha=0.3, which="both")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
        else:
            _note(a, "no square device count for 2D and none for 1D")
    axs[2].set_yscale("log")
    fig.suptitle(f"Model predictions on {machine['name']}: {pb.params() / 1e6:.3g} M parameters, "
                 f"batch {pb.batch} x {pb.seq_len}", fontsize=10)
    return _save(fig, path)
