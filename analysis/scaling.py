"""The sweep table and scaling figures: step-time statistics and breakdown per run, strong
scaling speedup/efficiency, weak scaling efficiency, measured isoefficiency."""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import replace

import numpy as np

from .costs import forward_traffic
from .ppscaling import pp_bytes_per_rank

COLUMNS = ["point", "mesh", "family", "ranks", "params_M", "batch", "seq_len", "W_gflop",
           "steps", "step_median_s", "step_iqr_s", "compute_s", "comm_s", "rng_s",
           "update_s", "io_s", "other_s", "comm_MB_per_rank", "comm_MB_formula",
           "peak_rss_MB", "tokens_per_s", "speedup", "efficiency", "scaling", "method"]


def problem_key(r) -> tuple:
    """Runs with equal keys solve the same problem (model shape, global batch, sequence)."""
    pb = r.problem
    return (pb.vocab, pb.hidden, pb.heads, pb.layers, pb.ffn, pb.batch * r.mesh.dp,
            pb.seq_len, pb.n_perturb)


def sweep_meta(root: str) -> dict:
    p = os.path.join(root, "sweep.json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {}


def forwards_per_rank(r) -> int:
    """Run.forwards() less the step forwards a rank hands to its pp group (it runs 1/pp)."""
    n_steps = len(r.steps["step"])
    return r.forwards() - n_steps * r.problem.forwards_per_step() * (r.mesh.pp - 1) // r.mesh.pp


def row(r, warmup: int = 1) -> dict:
    st = r.step_times(warmup)
    med = r.step_stat(warmup)
    q75, q25 = np.percentile(st, [75, 25])
    fwd, comm, rng, upd, io = (r.phase_median(p, warmup) for p in ("forward", "comm", "rng", "update", "io"))
    compute = max(fwd - comm, 0.0)  # forward time includes the comm inside SUMMA / allreduces
    other = max(med - (fwd + rng + upd + io), 0.0)
    tr = forward_traffic(r.problem, r.mesh)
    pb = r.problem
    tokens = pb.batch * r.mesh.dp * pb.seq_len * pb.forwards_per_step()
    return {"point": r.point, "mesh": r.mesh.label(), "family": r.mesh.family(),
            "ranks": r.mesh.ranks, "params_M": pb.params() / 1e6, "batch": pb.batch * r.mesh.dp,
            "seq_len": pb.seq_len, "W_gflop": pb.step_flops(r.mesh.dp) / 1e9,
            "steps": len(r.steps["step"]), "step_median_s": med, "step_iqr_s": float(q75 - q25),
            "compute_s": compute, "comm_s": comm, "rng_s": rng, "update_s": upd, "io_s": io,
            "other_s": other,
            "comm_MB_per_rank": float(np.mean(r.comm_bytes_recv())) / 1e6,
            "comm_MB_formula": (tr.total_bytes() * forwards_per_rank(r)
                                + pp_bytes_per_rank(pb.n_perturb, r.mesh.pp, len(r.steps["step"]))) / 1e6,
            "peak_rss_MB": r.rank_max("peak_rss_bytes") / 2**20,
            "tokens_per_s": tokens / med if med > 0 else float("nan"),
            "speedup": float("nan"), "efficiency": float("nan"), "scaling": "",
            "method": r.method}


def scaling_kind(runs, family: str, meta: dict) -> str:
    """strong or weak: from sweep.json when there is one, else strong when every run of the
    family solves the same problem."""
    if meta.get("scaling") in ("strong", "weak"):
        return meta["scaling"]
    keys = {problem_key(r) for r in runs if r.mesh.family() == family}
    return "strong" if len(keys) == 1 else "weak"


def add_scaling(rows: list[dict], runs, meta: dict) -> None:
    """Fills speedup/efficiency per (sweep kind, family, method). Strong: against the
    fewest-rank run of the same problem (shared by every family, so 1D and 2D are measured
    against the same base): S = T_base p_base / T_p, E = S / p. Weak: within the family,
    E = T(p_min) / T(p), S = E p / p_min."""
    kinds = [r.scaling or scaling_kind(runs, r.mesh.family(), meta) for r in runs]
    by_run = list(zip(rows, runs, kinds))
    for kind, fam, method in sorted({(k, r.mesh.family(), r.method) for _, r, k in by_run}):
        mine = [(x, r) for x, r, k in by_run
                if k == kind and r.mesh.family() == fam and r.method == method]
        for row_, r in mine:
            row_["scaling"] = kind
            if kind == "strong":
                same = [(x, y) for x, y, k in by_run
                        if k == kind and problem_key(y) == problem_key(r) and y.method == method]
                base = min(same, key=lambda xy: (xy[1].mesh.ranks, xy[0]["step_median_s"]))[0]
                row_["speedup"] = base["step_median_s"] * base["ranks"] / row_["step_median_s"]
                row_["efficiency"] = row_["speedup"] / row_["ranks"]
            else:
                base = min(mine, key=lambda xy: xy[1].mesh.ranks)[0]
                row_["efficiency"] = base["step_median_s"] / row_["step_median_s"]
                row_["speedup"] = row_["efficiency"] * row_["ranks"] / base["ranks"]


def table(runs, meta: dict | None = None) -> list[dict]:
    rows = [row(r) for r in runs]
    add_scaling(rows, runs, meta or {})
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["scaling"], rows[i]["family"],
                                                     rows[i]["ranks"], rows[i]["W_gflop"]))
    return [rows[i] for i in order]


def write_csv(rows: list[dict], path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in COLUMNS})
    os.replace(tmp, path)


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4g}"
    return str(v)


def markdown(rows: list[dict], columns=None) -> str:
    cols = columns or ["mesh", "ranks", "params_M", "batch", "W_gflop", "step_median_s",
                       "step_iqr_s", "compute_s", "comm_s", "rng_s", "other_s",
                       "comm_MB_per_rank", "comm_MB_formula", "peak_rss_MB", "tokens_per_s",
                       "speedup", "efficiency", "scaling", "method"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- isoefficiency


def isoefficiency(points, E: float):
    """Measured isoefficiency. `points`: (W, p, T_p) triples of one partitioning, with
    p = 1 runs giving the serial time (T_1(W) is fitted as a + b W over them when a W has no
    p = 1 run). For each p > 1, efficiency E(W) = T_1(W) / (p T_p(W)) is interpolated in
    log W to find the W that gives E. Returns (p array, W array, exponent k, prefactor c)
    with W = c p^k fitted in log-log; k is NaN with fewer than two points."""
    pts = np.array(points, dtype=float)
    serial = pts[pts[:, 1] == 1]
    if len(serial) == 0:
        raise ValueError("isoefficiency needs runs on 1 rank (the serial time)")
    if len(serial) >= 2 and np.ptp(serial[:, 0]) > 0.05 * serial[:, 0].mean():
        b, a = np.polyfit(serial[:, 0], serial[:, 2], 1)
    else:
        a, b = 0.0, serial[0, 2] / serial[0, 0]
    t1 = {w: t for w, _, t in serial}
    ps, ws = [], []
    for p in sorted(set(pts[:, 1]) - {1.0}):
        sel = pts[pts[:, 1] == p]
        sel = sel[np.argsort(sel[:, 0])]
        W = sel[:, 0]
        eff = np.array([(t1.get(w, a + b * w)) / (p * t) for w, _, t in sel])
        # efficiency rises with W at fixed p; interpolate where it crosses E
        for i in range(len(W) - 1):
            e0, e1 = eff[i], eff[i + 1]
            if (e0 - E) * (e1 - E) <= 0 and e0 != e1:
                x = np.log(W[i]) + (E - e0) / (e1 - e0) * (np.log(W[i + 1]) - np.log(W[i]))
                ps.append(p)
                ws.append(float(np.exp(x)))
                break
    ps, ws = np.array(ps), np.array(ws)
    if len(ps) < 2:
        return ps, ws, float("nan"), float("nan")
    k, logc = np.polyfit(np.log(ps), np.log(ws), 1)
    return ps, ws, float(k), float(np.exp(logc))
