"""Strong scaling in n (perturbation parallelism, parallel.pp; docs/scaling.md): runs that
differ only in pp (same model mesh, dp, problem and n_perturb) split the n directions of a
step over pp ranks, so the ideal step time is T(pp_min) pp_min / pp. The only traffic pp adds
is one allreduce of the 2n losses per step on the pp axis; its closed form (CommStats' ring
convention, src/parallel/comm_stats.hpp) is compared with the run log's
/ranks/pp_allreduce_bytes_sent."""
from __future__ import annotations

F64 = 8


def pp_bytes_per_rank(n_perturb: int, pp: int, steps: int) -> int:
    """Bytes one rank sends on the pp axis over `steps` steps: 2(pp-1)/pp x 2n doubles each."""
    if pp <= 1:
        return 0
    return steps * (2 * (pp - 1) * (2 * n_perturb * F64) // pp)


def group_key(r) -> tuple:
    """Runs with equal keys differ at most in pp."""
    pb = r.problem
    return (r.mesh.mode, r.mesh.side, r.mesh.dp, r.method, pb.vocab, pb.hidden, pb.heads,
            pb.layers, pb.ffn, pb.batch, pb.seq_len, pb.n_perturb)


def pp_table(runs, warmup: int = 1) -> list[dict]:
    """One row per run of every group with at least two pp values: step time, speedup and
    efficiency against the group's smallest pp, measured and closed-form pp bytes per rank."""
    groups: dict[tuple, list] = {}
    for r in runs:
        groups.setdefault(group_key(r), []).append(r)
    rows = []
    for key, rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if len({r.mesh.pp for r in rs}) < 2:
            continue
        rs = sorted(rs, key=lambda r: r.mesh.pp)
        base = rs[0]
        t0 = base.step_stat(warmup)
        for r in rs:
            t = r.step_stat(warmup)
            s = t0 / t if t > 0 else float("nan")
            n = r.problem.n_perturb
            steps = len(r.steps["step"])
            rows.append({
                "point": r.point, "mesh": r.mesh.label(), "ranks": r.mesh.ranks,
                "n_perturb": n, "pp": r.mesh.pp, "step_median_s": t, "speedup": s,
                "efficiency": s * base.mesh.pp / r.mesh.pp,
                "pp_bytes_per_rank": r.rank_avg("pp_allreduce_bytes_sent"),
                "pp_bytes_formula": pp_bytes_per_rank(n, r.mesh.pp, steps),
            })
    return rows
