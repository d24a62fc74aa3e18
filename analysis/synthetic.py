"""Writes synthetic run logs in zoptimus' run-log format (src/io/run_log.hpp) with step times
and losses from a known formula; for the tests and for trying the report without a cluster."""
from __future__ import annotations

import os

import h5py
import numpy as np

from .costs import Mesh, forward_traffic, Problem


def to_toml(deck: dict) -> str:
    out = []
    for sec, kv in deck.items():
        scalars = {k: v for k, v in kv.items() if not isinstance(v, dict)}
        out.append(f"[{sec}]")
        for k, v in scalars.items():
            out.append(f"{k} = " + (f'"{v}"' if isinstance(v, str) else
                                    ("true" if v is True else "false" if v is False else repr(v))))
        for sub, kv2 in kv.items():
            if isinstance(kv2, dict):
                out.append(f"[{sec}.{sub}]")
                out += [f"{k} = {v!r}" for k, v in kv2.items()]
    return "\n".join(out) + "\n"


def mesh_attr(mesh: Mesh) -> str:
    """As MeshShape::describe (src/parallel/mesh.cpp)."""
    pp = f"pp={mesh.pp} x " if mesh.pp > 1 else ""
    if mesh.mode == "2d":
        return f"2d dp={mesh.dp} x {pp}{mesh.side}x{mesh.side} ({mesh.ranks} ranks)"
    return f"1d dp={mesh.dp} x {pp}t={mesh.side} ({mesh.ranks} ranks)"


def write_log(path: str, deck: dict, mesh: Mesh, step_seconds, *, comm_fraction=0.2,
              rng_fraction=0.1, losses=None, rss_bytes=1e8, phases=None) -> None:
    """A finished run log: /steps from step_seconds (split into phases by the fractions, or
    given as phases = {"forward": .., "comm": .., "rng": ..} arrays or scalars), /eval,
    /ranks with the closed-form comm bytes of costs.forward_traffic."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    st = np.asarray(step_seconds, dtype=float)
    n = len(st)
    pb = Problem.from_deck(deck)
    npert = pb.n_perturb
    if losses is None:
        losses = 4.0 - 0.01 * np.arange(n)
    losses = np.asarray(losses, dtype=float)
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "zoptimus-runlog"
        f.attrs["format_version"] = np.int32(1)
        f.attrs["deck"] = to_toml(deck)
        f.attrs["mesh"] = mesh_attr(mesh)
        f.attrs["world_size"] = np.int32(mesh.ranks)
        g = f.create_group("steps")
        g.attrs["n_perturb"] = np.int32(npert)
        g["step"] = np.arange(n, dtype=np.int64)
        g["seed"] = np.arange(n, dtype=np.uint64)
        g["lr"] = np.full(n, 1e-3)
        g["skipped"] = np.zeros(n, dtype=np.int8)
        g["step_seconds"] = st
        if phases:
            for k in ("forward", "comm", "rng"):
                g[f"{k}_seconds"] = np.broadcast_to(np.asarray(phases[k], dtype=float), (n,)).copy()
        else:
            g["comm_seconds"] = st * comm_fraction
            g["rng_seconds"] = st * rng_fraction
            g["forward_seconds"] = st * 0.99  # comm and RNG are nested in the forward phase
        g["update_seconds"] = np.zeros(n)
        g["io_seconds"] = np.zeros(n)
        g["loss_plus"] = np.repeat(losses[:, None] + 1e-3, npert, axis=1)
        g["loss_minus"] = np.repeat(losses[:, None] - 1e-3, npert, axis=1)
        g["projected_grad"] = np.ones((n, npert))
        for k in ("active_layers", "anderson_coeffs"):
            g[k] = np.zeros(0, dtype=np.int32 if k == "active_layers" else float)
            g[k + "_offsets"] = np.zeros(n + 1, dtype=np.int64)
        e = f.create_group("eval")
        e["step"] = np.array([0, n], dtype=np.int64)
        e["loss"] = np.array([losses[0], losses[-1]])
        e["accuracy"] = np.full(2, np.nan)
        r = f.create_group("ranks")
        fw = n * pb.forwards_per_step() + 2 * deck.get("run", {}).get("eval_batches", 4)
        tr = forward_traffic(pb, mesh)
        r["row_allreduce_bytes_recv"] = np.full(mesh.ranks, int(tr.total_bytes() * fw), dtype=np.int64)
        r["peak_rss_bytes"] = np.full(mesh.ranks, int(rss_bytes), dtype=np.int64)
    os.replace(tmp, path)
