"""Export to Extra-P's text input format (`extrap --text FILE`), and a reader for it.

One file per partitioning. Parameters: p (ranks) and, when the partitioning was run at more
than one problem size, W (GFLOP per step). Regions: step, compute, comm, rng; metric time
(seconds per step, one repetition per measured step on the DATA line) and, for region comm,
bytes (received per rank per step, from the run log's counters).
"""
from __future__ import annotations

import os

import numpy as np

MAX_REPS = 50


def _reps(r, region: str, warmup: int = 1) -> list[float]:
    s = r.steps
    cut = warmup if len(s["step_seconds"]) > warmup + 1 else 0
    if region == "step":
        v = s["step_seconds"][cut:]
    elif region == "compute":
        v = np.maximum(s["forward_seconds"] - s["comm_seconds"], 0.0)[cut:]
    else:
        v = s[f"{region}_seconds"][cut:]
    return [float(x) for x in v[:MAX_REPS]]


def export(runs, path: str) -> None:
    """Writes the runs of one partitioning as an Extra-P text file (atomically)."""
    sizes = sorted({round(r.problem.step_flops(r.mesh.dp) / 1e9, 9) for r in runs})
    two = len(sizes) > 1
    pts = {}
    for r in runs:
        key = (r.mesh.ranks, round(r.problem.step_flops(r.mesh.dp) / 1e9, 9)) if two else (r.mesh.ranks,)
        pts.setdefault(key, []).append(r)
    keys = sorted(pts)
    lines = ["PARAMETER p"] + (["PARAMETER W"] if two else [])
    lines.append("POINTS " + " ".join("( " + " ".join(f"{v:g}" for v in k) + " )" for k in keys))
    for region in ("step", "compute", "comm", "rng"):
        lines.append(f"REGION {region}")
        lines.append("METRIC time")
        for k in keys:
            vals = [x for r in pts[k] for x in _reps(r, region)]
            lines.append("DATA " + " ".join(f"{max(x, 1e-12):.9g}" for x in vals))
        if region == "comm":
            lines.append("METRIC bytes")
            for k in keys:
                vals = [float(np.mean(r.comm_bytes_recv())) / max(r.forwards(), 1)
                        * r.problem.forwards_per_step() for r in pts[k]]
                lines.append("DATA " + " ".join(f"{max(x, 1e-12):.9g}" for x in vals))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def read(path: str) -> dict:
    """Parses an Extra-P text file back: {"parameters": [...], "points": [tuple...],
    "data": {(region, metric): [[values per point]...]}}."""
    params, points, data = [], [], {}
    region = metric = None
    with open(path) as f:
        for line in f:
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "PARAMETER":
                params.append(tok[1])
            elif tok[0] == "POINTS":
                body = line.split(None, 1)[1]
                for chunk in body.split(")"):
                    chunk = chunk.replace("(", "").split()
                    if chunk:
                        points.append(tuple(float(x) for x in chunk))
            elif tok[0] == "REGION":
                region = tok[1]
            elif tok[0] == "METRIC":
                metric = tok[1]
                data[(region, metric)] = []
            elif tok[0] == "DATA":
                data[(region, metric)].append([float(x) for x in tok[1:]])
    return {"parameters": params, "points": points, "data": data}
