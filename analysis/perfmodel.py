"""A performance model of one ZO step per rank, fitted to measured runs or read from a
machine file (analysis/machines/*.toml):

  T_step = F / gemm_rate              GEMM FLOPs per rank (2 n_perturb forwards)
         + A / mem_bw                 activation bytes streamed by the non-GEMM kernels
         + K * t_launch               kernels launched per rank (costs.kernel_launches)
         + R * rng_cost               parameters per rank times (2 n_perturb + 1) passes of the
                                      fused perturb/update kernel (Philox normals)
         + N * t_tensor               tensor blocks that pass visits (a fixed cost per block:
                                      dispatch, seeds, fences)
         + sum_c (alpha_c n_c + beta_c b_c)   per message class c: calls and received bytes
         + t0                         fixed per-step overhead (loss reduction, bookkeeping)

Message classes come from costs.forward_traffic. On a machine file, a communicator that
spans nodes uses the inter-node alpha and a bandwidth shared by the ranks of a node.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from .costs import (Mesh, Problem, activation_bytes, forward_traffic, kernel_launches,
                    local_params, local_tensors, F32)

CLASSES = ("summa", "tp_allreduce", "row_small", "loss")


def load_machine(path: str) -> dict:
    with open(path, "rb") as f:
        m = tomllib.load(f)
    need = ("name", "devices_per_node", "device_memory_gb", "gemm_gflops", "mem_bw_gbs",
            "rng_ns_per_param", "intra", "inter")
    missing = [k for k in need if k not in m]
    if missing:
        raise ValueError(f"{path}: machine file lacks {', '.join(missing)}")
    m.setdefault("step_overhead_us", 50.0)
    m.setdefault("kernel_launch_us", 0.0)
    m.setdefault("rng_tensor_us", 0.0)
    m.setdefault("memory_fraction", 0.9)
    return m


@dataclass
class Features:
    flops: float  # GEMM+attention FLOPs per rank per step
    act_bytes: float  # activation bytes streamed per rank per step
    kernels: float  # kernels launched per rank per step
    rng_params: float  # parameter-passes of the fused RNG kernel per rank per step
    rng_tensors: float  # tensor-block passes of the fused RNG kernel per rank per step
    calls: dict  # message class -> calls per rank per step (only classes that move bytes)
    bytes: dict  # message class -> received bytes per rank per step


def features(pb: Problem, mesh: Mesh, summa: str = "auto") -> Features:
    fw = pb.forwards_per_step()
    tr = forward_traffic(pb, mesh, summa)
    calls = {c: tr.calls[c] * fw for c in tr.calls if tr.bytes.get(c, 0) > 0}
    byts = {c: tr.bytes[c] * fw for c in tr.calls if tr.bytes.get(c, 0) > 0}
    return Features(flops=pb.step_flops(mesh.dp) / mesh.ranks,
                    act_bytes=activation_bytes(pb, mesh) * fw,
                    kernels=kernel_launches(pb, mesh) * fw,
                    rng_params=local_params(pb, mesh) * (fw + 1),
                    rng_tensors=local_tensors(pb) * (fw + 1),
                    calls=calls, bytes=byts)


def memory_per_rank(pb: Problem, mesh: Mesh) -> float:
    """Bytes per rank: weights (fp32) + two forward streams of activations + SUMMA panels."""
    w = local_params(pb, mesh) * F32
    act = 2 * activation_bytes(pb, mesh)
    panels = 0.0
    if mesh.mode == "2d" and mesh.side > 1:
        T = pb.batch * pb.seq_len
        q = mesh.side
        panels = 2 * (T * max(pb.ffn, 3 * pb.hidden) + pb.hidden * max(pb.ffn, 3 * pb.hidden)) / (q * q) * F32
    return w + act + panels


def _spans_nodes(p: int, stride: int, per_node: int) -> bool:
    return p > 1 and p * stride > per_node


def predict(pb: Problem, mesh: Mesh, machine: dict, summa: str = "auto") -> dict:
    """Step time (s) and its parts for `pb` on `mesh` on `machine` (a machine file or a fit).
    A fit holds for the distribution of directions it was fitted on (machine files do not say)."""
    fitted_on = machine.get("perturbation")
    if fitted_on is not None and fitted_on != pb.perturbation:
        raise ValueError(f"the model was fitted on optim.perturbation = {fitted_on} runs; its RNG "
                         f"cost does not hold for {pb.perturbation}")
    f = features(pb, mesh, summa)
    compute = (f.flops / (machine["gemm_gflops"] * 1e9) + f.act_bytes / (machine["mem_bw_gbs"] * 1e9)
               + f.kernels * machine.get("kernel_launch_us", 0.0) * 1e-6)
    rng = (f.rng_params * machine["rng_ns_per_param"] * 1e-9
           + f.rng_tensors * machine.get("rng_tensor_us", 0.0) * 1e-6)
    per_node = machine["devices_per_node"]
    comm = 0.0
    for c, n in f.calls.items():
        # the communicator a class runs on: its size and the stride between its ranks
        if c == "loss":
            inter = _spans_nodes(mesh.dp, mesh.model_ranks, per_node)
        elif mesh.mode == "2d":
            inter = _spans_nodes(mesh.side, mesh.side, per_node)  # the column comm is wider
        else:
            inter = _spans_nodes(mesh.side, 1, per_node)
        link = machine["inter" if inter else "intra"]
        share = min(per_node, mesh.ranks) if inter else 1  # ranks of a node share the NIC
        alpha = link.get("alpha_us", 1.0) * 1e-6
        beta = share / (link["bw_gbs"] * 1e9)
        comm += alpha * n + beta * f.bytes[c]
    t0 = machine["step_overhead_us"] * 1e-6
    total = compute + rng + comm + t0
    mem = memory_per_rank(pb, mesh)
    return {"step_s": total, "compute_s": compute, "rng_s": rng, "comm_s": comm,
            "overhead_s": t0, "memory_bytes": mem,
            "fits": mem <= machine["device_memory_gb"] * 2**30 * machine["memory_fraction"]}


def efficiency(pb: Problem, mesh: Mesh, machine: dict) -> float:
    """Parallel efficiency against one device on the same problem (notional when one device
    cannot hold it)."""
    t1 = predict(pb, Mesh(mesh.mode, 1, 1), machine)["step_s"]
    tp = predict(pb, mesh, machine)["step_s"]
    return t1 * mesh.dp / (mesh.ranks * tp) if mesh.dp > 1 else t1 / (mesh.ranks * tp)


# ---------------------------------------------------------------- fitting to measured runs


def fit(runs, warmup: int = 1) -> dict:
    """Fits the model's constants to measured runs (Run objects) from their phase timers:
    compute (forward - comm - rng: both are nested in the forward phase) on FLOPs,
    activation bytes and kernel launches, RNG on parameter passes and tensor-block passes,
    comm on calls and bytes (one alpha, one beta: one machine's shared memory or network),
    overhead as the median remainder. Returns a machine dict usable with predict()."""
    dists = sorted({r.problem.perturbation for r in runs})
    if len(dists) > 1:  # one RNG constant per parameter cannot describe both
        raise ValueError(f"the runs mix optim.perturbation = {' and '.join(dists)}, whose random "
                         "numbers cost differently per parameter; fit each set on its own")
    rows_c, y_c, rows_r, y_r, rows_m, y_m = [], [], [], [], [], []
    model_parallel = 0  # runs whose messages include more than the loss scalars
    for r in runs:
        f = features(r.problem, r.mesh)
        step = r.step_stat(warmup)
        fwd, comm, rng = (r.phase_median(p, warmup) for p in ("forward", "comm", "rng"))
        w = 1.0 / max(step, 1e-9)  # relative errors: small and large runs weigh alike
        rows_c.append(np.array([f.flops, f.act_bytes, f.kernels]) * w)
        # The run log's forward phase contains the forward's communication and the ZO weight
        # generation (the weight source makes theta +- eps z inside the forward): compute is
        # what remains. Leaving rng in counted it twice (model over-predicted by ~40 %).
        y_c.append(max(fwd - comm - rng, 0.0) * w)
        rows_r.append(np.array([f.rng_params, f.rng_tensors]) * w)
        y_r.append(rng * w)
        model_parallel += any(c != "loss" for c in f.calls)
        if f.calls:
            rows_m.append(np.array([sum(f.calls.values()), sum(f.bytes.values())]) * w)
            y_m.append(comm * w)
    if len(rows_c) < 2:
        raise ValueError("the model fit needs at least 2 runs")
    # Without the per-kernel and per-tensor terms the fit had to explain the fixed costs of
    # small shapes with the rates: it over-predicted wider held-out shapes by up to +31 %.
    (a_f, a_b, a_k), _ = nnls(np.array(rows_c), np.array(y_c))
    (c_r, c_t), _ = nnls(np.array(rows_r), np.array(y_r))
    alpha, beta = (nnls(np.array(rows_m), np.array(y_m))[0] if len(rows_m) >= 2 else (1e-6, 1e-10))
    m = {"name": "fitted", "devices_per_node": 1 << 20, "device_memory_gb": 1e9,
         "memory_fraction": 1.0,
         "gemm_gflops": 1.0 / a_f / 1e9 if a_f > 0 else 1e6,
         "mem_bw_gbs": 1.0 / a_b / 1e9 if a_b > 0 else 1e6,
         "rng_ns_per_param": c_r * 1e9,
         "kernel_launch_us": a_k * 1e6,
         "rng_tensor_us": c_t * 1e6,
         "intra": {"alpha_us": alpha * 1e6, "bw_gbs": 1.0 / beta / 1e9 if beta > 0 else 1e6},
         "inter": {"alpha_us": alpha * 1e6, "bw_gbs": 1.0 / beta / 1e9 if beta > 0 else 1e6},
         "step_overhead_us": 0.0,
         # alpha and beta mean little when no fitted run moved more than the loss scalars
         "model_parallel_runs": model_parallel,
         # the RNG constants hold for this distribution of the directions only
         "perturbation": dists[0] if dists else "gaussian"}
    rest = []
    for r in runs:
        p = predict(r.problem, r.mesh, m)
        rest.append(r.step_stat(warmup) - (p["step_s"]))
    m["step_overhead_us"] = max(float(np.median(rest)), 0.0) * 1e6
    return m


def machine_toml(m: dict) -> str:
    """A machine dict as a machine file (for a fitted model)."""
    lines = [f'name = "{m["name"]}"']
    for k in ("devices_per_node", "device_memory_gb", "memory_fraction", "gemm_gflops",
              "mem_bw_gbs", "rng_ns_per_param", "kernel_launch_us", "rng_tensor_us",
              "step_overhead_us"):
        lines.append(f"{k} = {m[k]:.6g}" if isinstance(m[k], float) else f"{k} = {m[k]}")
    for sec in ("intra", "inter"):
        lines.append(f"[{sec}]")
        lines += [f"{k} = {v:.6g}" for k, v in m[sec].items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- questions the model answers


def mesh_options(pb: Problem, ranks: int, max_dp: int | None = None) -> list[Mesh]:
    """Meshes of exactly `ranks` ranks that the model's shapes allow (batch per replica,
    heads, hidden and ffn divisible by the mesh side)."""
    out = []
    for dp in range(1, ranks + 1):
        if ranks % dp or (max_dp and dp > max_dp):
            continue
        per = ranks // dp
        for mode in ("2d", "1d"):
            if mode == "1d" and per == 1:
                continue  # the same pure data-parallel mesh as 2D 1x1
            m = Mesh.from_ranks(mode, ranks, dp)
            if m is None:
                continue
            s = m.side
            if mode == "2d" and (pb.hidden % s or pb.ffn % s or pb.heads % s or pb.batch % s):
                continue
            if mode == "1d" and (pb.hidden % s or pb.ffn % s or pb.heads % s):
                continue
            out.append(m)
    return out


def per_replica(pb: Problem, dp: int) -> Problem | None:
    """The problem each of dp replicas sees when the global batch pb.batch is split."""
    if pb.batch % dp:
        return None
    from dataclasses import replace
    return replace(pb, batch=pb.batch // dp)


def which_mesh(pb: Problem, nodes: int, machine: dict) -> list[dict]:
    """Every admissible mesh that uses `nodes` nodes (more than nodes-1 nodes' worth of
    ranks, at most nodes') for the global batch pb.batch, fastest first."""
    per_node = machine["devices_per_node"]
    rows = []
    for ranks in range((nodes - 1) * per_node + 1, nodes * per_node + 1):
        for dp in [d for d in range(1, ranks + 1) if ranks % d == 0]:
            sub = per_replica(pb, dp)
            if sub is None:
                continue
            for m in mesh_options(sub, ranks, max_dp=dp):
                if m.dp != dp:
                    continue
                p = predict(sub, m, machine)
                rows.append({"mesh": m.label(), "ranks": ranks, **p})
    rows.sort(key=lambda r: (not r["fits"], r["step_s"]))
    return rows


def scaled_problem(pb: Problem, x: float) -> Problem:
    """The problem grown by x along the ray the analytic isoefficiency uses: batch and width
    (hidden, heads, ffn) both times x, layers, vocab and sequence fixed. Work grows as x^3
    while every communication volume of 1D and 2D grows at most as x^2 (batch alone or width
    alone would not do: activation traffic grows with the batch as fast as the work, and
    SUMMA's weight panels with the width)."""
    from dataclasses import replace
    return replace(pb, batch=pb.batch * x, hidden=pb.hidden * x, heads=pb.heads * x,
                   ffn=pb.ffn * x)


def analytic_isoefficiency(pb: Problem, mode: str, ranks_list, E: float, machine: dict):
    """Problem size W (FLOPs/step) that holds efficiency E on each rank count, from the
    model, growing the problem along scaled_problem's ray (continuous x from 1/64 to 4096);
    NaN where E is out of that range."""
    out = []
    for p in ranks_list:
        mesh = Mesh.from_ranks(mode, p)
        if mesh is None:
            out.append(float("nan"))
            continue

        def eff(x):
            return efficiency(scaled_problem(pb, x), mesh, machine)

        lo, hi = 2.0**-6, 2.0**12
        if eff(hi) < E or eff(lo) >= E:
            out.append(float("nan"))
            continue
        for _ in range(60):  # bisection in log(x): efficiency grows with the problem
            mid = math.sqrt(lo * hi)
            if eff(mid) >= E:
                hi = mid
            else:
                lo = mid
        out.append(scaled_problem(pb, hi).step_flops())
    return out
