"""Reads zoptimus HDF5 run logs (format "zoptimus-runlog", see src/io/run_log.hpp) into Run
records: the deck, the mesh, per-step timings and losses, and per-rank counters."""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field

import h5py
import numpy as np

from .costs import Mesh, Problem

PHASES = ("forward", "comm", "rng", "update", "io")  # per-step timers in /steps

# The statistic that stands for a run's step (and phase) time: "median" (default) or "min".
# On a shared, oversubscribed machine the minimum over steps is the better estimate of the
# uncontended time; on a cluster's dedicated nodes the median is.
STATISTIC = "median"


def set_statistic(name: str) -> None:
    global STATISTIC
    if name not in ("median", "min"):
        raise ValueError(f"unknown statistic {name!r} (median or min)")
    STATISTIC = name


def _stat(v) -> float:
    if len(v) == 0:
        return float("nan")
    return float(np.min(v) if STATISTIC == "min" else np.median(v))


@dataclass
class Run:
    path: str
    deck: dict
    mesh: Mesh
    problem: Problem
    steps: dict  # name -> numpy array (step, step_seconds, ..., loss_plus [steps, n])
    ranks: dict  # name -> numpy array [world_size]
    evals: dict
    attrs: dict = field(default_factory=dict)
    sweep: dict = field(default_factory=dict)  # the nearest sweep.json above the log

    @property
    def scaling(self) -> str:
        return self.sweep.get("scaling", "")

    @property
    def point(self) -> str:
        """The sweep point: the name of the directory holding the log."""
        return os.path.basename(os.path.dirname(os.path.abspath(self.path)))

    @property
    def label(self) -> str:
        """<sweep>/<point> for a log at SWEEP/runs/POINT/run_n.h5, else the point."""
        d = os.path.dirname(os.path.abspath(self.path))
        runs = os.path.dirname(d)
        if os.path.basename(runs) == "runs":
            return f"{os.path.basename(os.path.dirname(runs))}/{self.point}"
        return self.point

    @property
    def ranks_n(self) -> int:
        return self.mesh.ranks

    @property
    def method(self) -> str:
        o = self.deck.get("optim", {})
        name = o.get("method", "mezo")
        m = o.get("anderson", {}).get("m", 0)
        return f"{name}+anderson(m={m})" if m else name

    @property
    def anderson(self) -> bool:
        return self.deck.get("optim", {}).get("anderson", {}).get("m", 0) > 0

    def step_times(self, warmup: int = 1) -> np.ndarray:
        """Per-step seconds without the first `warmup` steps (caches, first-touch)."""
        s = self.steps["step_seconds"]
        good = self.steps["skipped"] == 0
        s = s[good]
        return s[warmup:] if len(s) > warmup + 1 else s

    def step_stat(self, warmup: int = 1) -> float:
        """The run's step time: median (or minimum, see set_statistic) over its steps."""
        return _stat(self.step_times(warmup))

    def phase_median(self, phase: str, warmup: int = 1) -> float:
        """A phase timer's median (or minimum) over the steps."""
        v = self.steps[f"{phase}_seconds"]
        v = v[warmup:] if len(v) > warmup + 1 else v
        return _stat(v)

    def loss(self) -> np.ndarray:
        lp, lm = self.steps["loss_plus"], self.steps["loss_minus"]
        return 0.5 * (lp.mean(axis=1) + lm.mean(axis=1))

    def rank_avg(self, name: str) -> float:
        v = self.ranks.get(name)
        if v is None or len(v) == 0:
            return float("nan")
        v = np.asarray(v, dtype=float)
        return float(np.nanmean(v))

    def rank_max(self, name: str) -> float:
        v = self.ranks.get(name)
        return float(np.nanmax(np.asarray(v, dtype=float))) if v is not None and len(v) else float("nan")

    def comm_bytes_recv(self, include_world: bool = False) -> np.ndarray:
        """Received bytes per rank over the whole run: the model-parallel and data-parallel
        axes (row, col, model, dp), which the closed forms of costs.py describe. The world
        axis carries the optimizer's own reductions (Sparse-MeZO threshold counts, the
        Anderson Gram); include_world adds it."""
        tot = np.zeros(self.mesh.ranks)
        for k, v in self.ranks.items():
            if k.endswith("_bytes_recv") and (include_world or not k.startswith("world_")):
                tot = tot + np.asarray(v, dtype=float)
        return tot

    def forwards(self) -> int:
        """Forward passes each rank made: 2 n_perturb per step, plus per evaluation the
        held-out sequences split over the dp replicas, batch sequences per forward
        (synthetic data: run.eval_sequences, or run.eval_batches x data.batch)."""
        run = self.deck.get("run", {})
        eval_seqs = run.get("eval_sequences", 0) or run.get("eval_batches", 4) * self.problem.batch
        per_forward = self.problem.batch * self.mesh.dp
        eval_forwards = -(-eval_seqs // per_forward)
        n_steps = len(self.steps["step"])
        return n_steps * self.problem.forwards_per_step() + len(self.evals.get("step", [])) * eval_forwards


def _mesh_from_attr(s: str) -> Mesh:
    m = re.match(r"2d dp=(\d+) x (?:pp=(\d+) x )?(\d+)x(\d+)", s)
    if m:
        return Mesh("2d", int(m.group(3)), int(m.group(1)), int(m.group(2) or 1))
    m = re.match(r"1d dp=(\d+) x (?:pp=(\d+) x )?t=(\d+)", s)
    if m:
        return Mesh("1d", int(m.group(3)), int(m.group(1)), int(m.group(2) or 1))
    raise ValueError(f"unrecognised mesh description {s!r}")


def _str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def read_run(path: str) -> Run:
    with h5py.File(path, "r") as f:
        if _str(f.attrs.get("format", "")) != "zoptimus-runlog":
            raise ValueError(f"{path}: not a zoptimus run log (attribute format)")
        attrs = {k: (_str(v) if isinstance(v, (bytes, str)) else v) for k, v in f.attrs.items()}
        deck = tomllib.loads(_str(f.attrs["deck"]))
        mesh = _mesh_from_attr(_str(f.attrs["mesh"]))
        steps = {k: f["steps"][k][()] for k in f["steps"] if isinstance(f["steps"][k], h5py.Dataset)}
        ranks = {k: f["ranks"][k][()] for k in f["ranks"]} if "ranks" in f else {}
        evals = {k: f["eval"][k][()] for k in f["eval"]} if "eval" in f else {}
    for k in ("loss_plus", "loss_minus", "projected_grad"):
        if k in steps and steps[k].ndim == 1:
            steps[k] = steps[k][:, None]
    return Run(path, deck, mesh, Problem.from_deck(deck), steps, ranks, evals, attrs)


def find_logs(root: str) -> list[str]:
    """Every run_<n>.h5 under root, sorted."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if re.fullmatch(r"run_\d+\.h5", f)]
    return sorted(out)


def _nearest_sweep(path: str, root: str) -> dict:
    import json
    d = os.path.dirname(os.path.abspath(path))
    top = os.path.dirname(os.path.abspath(root))
    while d.startswith(top) and d != top:
        p = os.path.join(d, "sweep.json")
        if os.path.exists(p):
            with open(p) as f:
                return json.load(f)
        d = os.path.dirname(d)
    return {}


def read_sweep(root: str) -> list[Run]:
    """All complete run logs under root (ones without /ranks, i.e. unfinished, are skipped
    with a note on stderr)."""
    import sys
    runs = []
    for p in find_logs(root):
        try:
            r = read_run(p)
        except (OSError, ValueError, KeyError) as e:
            print(f"analysis: skipping {p}: {e}", file=sys.stderr)
            continue
        if not r.ranks:
            print(f"analysis: skipping {p}: unfinished run (no /ranks)", file=sys.stderr)
            continue
        r.sweep = _nearest_sweep(p, root)
        runs.append(r)
    return runs
