"""Anderson-extrapolated runs against their plain counterparts: the crossover (where the
extrapolated run's loss goes below the plain run's for good) in steps and in wall time, and
the mixing penalty (extra seconds per step)."""
from __future__ import annotations

import numpy as np


def smooth(y: np.ndarray, window: int = 5) -> np.ndarray:
    if len(y) < window or window <= 1:
        return y.copy()
    k = np.ones(window) / window
    pad = np.concatenate([np.full(window - 1, y[0]), y])
    return np.convolve(pad, k, mode="valid")


def wall(r) -> np.ndarray:
    """Cumulative wall time (s) at the end of each step."""
    return np.cumsum(r.steps["step_seconds"])


def _settings(r) -> tuple:
    d = r.deck
    o = dict(d.get("optim", {}))
    o.pop("anderson", None)
    return (r.mesh, tuple(sorted(d.get("model", {}).items())), tuple(sorted(o.items())),
            tuple(sorted(d.get("data", {}).items())))


def pairs(runs):
    """(anderson run, plain run) pairs that differ only in optim.anderson."""
    plain = [r for r in runs if not r.anderson]
    out = []
    for a in (r for r in runs if r.anderson):
        match = [p for p in plain if _settings(p) == _settings(a)]
        if match:
            out.append((a, match[0]))
    return out


def crossover(a, p, window: int = 5) -> dict:
    """First step from which the smoothed loss of `a` stays below that of `p`, the wall time
    at which `a` reaches a loss `p` only reaches later, and the mixing penalty."""
    la, lp = smooth(a.loss(), window), smooth(p.loss(), window)
    n = min(len(la), len(lp))
    below = la[:n] < lp[:n]
    step = None
    for i in range(n):
        if below[i:].all():
            step = int(a.steps["step"][i]) + 1
            break
    # in wall time: plain's loss interpolated at a's times
    ta, tp = wall(a), wall(p)
    lp_at = np.interp(ta[:n], tp[:n], lp[:n], right=np.nan)
    below_t = la[:n] < lp_at
    t_cross = None
    for i in range(n):
        if np.isfinite(lp_at[i]) and below_t[i:][np.isfinite(lp_at[i:])].all():
            t_cross = float(ta[i])
            break
    ma, mp = a.step_stat(), p.step_stat()
    return {"anderson": a.label, "plain": p.label, "crossover_step": step,
            "crossover_wall_s": t_cross, "penalty_s_per_step": ma - mp,
            "penalty_fraction": (ma - mp) / mp if mp > 0 else float("nan")}
