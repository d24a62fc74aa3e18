"""The analysis package on synthetic run logs whose answers are known in closed form:
speedup/efficiency, weak efficiency, the isoefficiency exponent, the performance-model fit,
the Extra-P export (parsed back, and Extra-P itself finding the known growth) and the
Anderson crossover."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)

from analysis import anderson, extrap, perfmodel, scaling  # noqa: E402
from analysis.costs import Mesh, Problem  # noqa: E402
from analysis.runlog import read_sweep  # noqa: E402
from analysis.synthetic import write_log  # noqa: E402

TINY = {"model": {"vocab": 64, "hidden": 16, "heads": 4, "layers": 2, "ffn": 64,
                  "max_positions": 16},
        "data": {"batch": 8, "seq_len": 8}, "optim": {"method": "mezo"},
        "run": {"eval_batches": 1}}


def deck(**changes):
    d = {k: dict(v) for k, v in TINY.items()}
    for key, v in changes.items():
        sec, name = key.split("__")
        d[sec][name] = v
    return d


def test_strong_speedup_and_efficiency(tmp_path):
    # T(p) = T1 / (p * E_p) with chosen efficiencies: the table must give E_p back.
    want = {1: 1.0, 4: 0.8, 16: 0.5}
    for mode in ("2d", "1d"):
        for p, e in want.items():
            write_log(str(tmp_path / f"{mode}-n{p}" / "run_0.h5"), deck(),
                      Mesh.from_ranks(mode, p), np.full(8, 0.4 / (p * e)))
    rows = scaling.table(read_sweep(str(tmp_path)), {"scaling": "strong"})
    assert len(rows) == 6
    for r in rows:
        assert r["efficiency"] == pytest.approx(want[r["ranks"]], rel=1e-12)
        assert r["speedup"] == pytest.approx(want[r["ranks"]] * r["ranks"], rel=1e-12)


def test_weak_efficiency(tmp_path):
    # T(p) = T0 (1 + 0.1 log2 p)  ->  E = 1 / (1 + 0.1 log2 p), whatever the problem size.
    for p, b in ((1, 8), (4, 32), (16, 128)):
        write_log(str(tmp_path / f"2d-n{p}" / "run_0.h5"), deck(data__batch=b),
                  Mesh.from_ranks("2d", p), np.full(6, 0.2 * (1 + 0.1 * np.log2(p))))
    rows = scaling.table(read_sweep(str(tmp_path)), {"scaling": "weak"})
    for r in rows:
        assert r["efficiency"] == pytest.approx(1 / (1 + 0.1 * np.log2(r["ranks"])), rel=1e-12)


def test_isoefficiency_exponent_recovered(tmp_path):
    # Work W (FLOPs, grown through the batch) at rate R; overhead T_o(p) = c p^k spread over
    # p ranks: T_p = (W/R + c p^k) / p, so E = W / (W + R c p^k) and the W that holds E grows
    # as p^k. The analysis sees only run logs.
    k, R, c = 1.5, 1e9, 2e-4
    for p in (1, 4, 16, 64, 256):
        for b in (2 ** i for i in range(0, 17)):
            d = deck(data__batch=b)
            W = Problem.from_deck(d).step_flops()
            t = (W / R + (c * p ** k if p > 1 else 0.0)) / p
            write_log(str(tmp_path / f"p{p}-b{b}" / "run_0.h5"), d, Mesh("1d", p), np.full(3, t))
    runs = read_sweep(str(tmp_path))
    pts = [(r.problem.step_flops(), r.mesh.ranks, float(np.median(r.step_times()))) for r in runs]
    ps, ws, k_fit, _ = scaling.isoefficiency(pts, 0.5)
    assert list(ps) == [4, 16, 64, 256]
    assert abs(k_fit - k) / k < 0.05, k_fit
    # and each W* against the closed form W* = E/(1-E) R c p^k (interpolation in log W)
    np.testing.assert_allclose(ws, R * c * ps ** k, rtol=0.05)


def _known_machine():
    return {"name": "known", "devices_per_node": 1 << 20, "device_memory_gb": 1e9,
            "memory_fraction": 1.0, "gemm_gflops": 50.0, "mem_bw_gbs": 8.0,
            "rng_ns_per_param": 3.0, "kernel_launch_us": 0.7, "rng_tensor_us": 2.0,
            "intra": {"alpha_us": 4.0, "bw_gbs": 2.0},
            "inter": {"alpha_us": 4.0, "bw_gbs": 2.0}, "step_overhead_us": 120.0}


def _model_runs(tmp_path, m):
    """Runs whose phase timers are exactly the model's parts on machine m."""
    shapes = [(16, 4, 64, 8, 8), (32, 4, 128, 16, 8), (64, 8, 128, 4, 32), (48, 4, 96, 12, 16),
              (64, 4, 256, 8, 16), (32, 8, 64, 32, 8)]
    meshes = [Mesh("2d", 1), Mesh("1d", 2), Mesh("2d", 2), Mesh("1d", 4), Mesh("1d", 2, 2)]
    out = []
    for i, (h, heads, F, b, s) in enumerate(shapes):
        for mesh in meshes:
            d = deck(model__hidden=h, model__heads=heads, model__ffn=F, data__batch=b,
                     data__seq_len=s)
            pr = perfmodel.predict(Problem.from_deck(d), mesh, m)
            name = f"s{i}-{mesh.family()}-{mesh.ranks}"
            write_log(str(tmp_path / name / "run_0.h5"), d, mesh, np.full(4, pr["step_s"]),
                      # as zoptimus logs them: comm and RNG are nested in the forward phase
                      phases={"forward": pr["compute_s"] + pr["comm_s"] + pr["rng_s"],
                              "comm": pr["comm_s"], "rng": pr["rng_s"]})
            out.append(name)
    return out


def test_model_fit_recovers_constants(tmp_path):
    m = _known_machine()
    _model_runs(tmp_path, m)
    runs = read_sweep(str(tmp_path))
    fit = perfmodel.fit(runs)
    for key in ("gemm_gflops", "mem_bw_gbs", "rng_ns_per_param", "kernel_launch_us",
                "rng_tensor_us", "step_overhead_us"):
        assert fit[key] == pytest.approx(m[key], rel=0.01), key
    assert fit["intra"]["alpha_us"] == pytest.approx(4.0, rel=0.01)
    assert fit["intra"]["bw_gbs"] == pytest.approx(2.0, rel=0.01)
    # held out: fit without shape 5, predict it
    train = [r for r in runs if not r.point.startswith("s5-")]
    fit2 = perfmodel.fit(train)
    for r in runs:
        if r.point.startswith("s5-"):
            pred = perfmodel.predict(r.problem, r.mesh, fit2)["step_s"]
            assert pred == pytest.approx(float(np.median(r.step_times())), rel=0.01)


def test_model_fit_refuses_mixed_perturbations(tmp_path):
    # Gaussian and Rademacher runs: one RNG constant cannot fit both, so fit() says so; the
    # Gaussian runs alone fit.
    for name, dist, batch in (("g4", "gaussian", 4), ("g8", "gaussian", 8),
                              ("r", "rademacher", 4)):
        write_log(str(tmp_path / name / "run_0.h5"),
                  deck(optim__perturbation=dist, data__batch=batch), Mesh("2d", 1),
                  np.full(5, 1e-3), phases={"forward": np.full(5, 8e-4), "comm": np.zeros(5),
                                            "rng": np.full(5, 1e-4)})
    runs = read_sweep(str(tmp_path))
    assert sorted(r.problem.perturbation for r in runs) == ["gaussian", "gaussian", "rademacher"]
    with pytest.raises(ValueError, match="mix optim.perturbation"):
        perfmodel.fit(runs)
    fitted = perfmodel.fit([r for r in runs if r.problem.perturbation == "gaussian"])
    assert fitted["perturbation"] == "gaussian"
    rad = next(r for r in runs if r.problem.perturbation == "rademacher")
    with pytest.raises(ValueError, match="fitted on optim.perturbation = gaussian"):
        perfmodel.predict(rad.problem, rad.mesh, fitted)


def test_extrap_export_parsed_back_and_extrap_finds_growth(tmp_path):
    # comm time grows as p^(3/2), step time as 1e-3 + 1e-4 p: Extra-P must find the exponents.
    rng = np.random.default_rng(3)
    ps = (2, 4, 8, 16, 32, 64)
    for p in ps:
        t = 1e-3 + 1e-4 * p + rng.normal(0, 1e-7, 5)
        comm = 2e-5 * p ** 1.5 * (1 + rng.normal(0, 1e-4, 5))
        write_log(str(tmp_path / "sweep" / f"1d-n{p}" / "run_0.h5"), deck(), Mesh("1d", p), t,
                  phases={"forward": 0.5 * t + comm, "comm": comm, "rng": 0.1 * t})
    runs = read_sweep(str(tmp_path / "sweep"))
    out = str(tmp_path / "extrap_1d.txt")
    extrap.export(runs, out)
    back = extrap.read(out)
    assert back["parameters"] == ["p"]
    assert [pt[0] for pt in back["points"]] == list(ps)
    by_p = {r.mesh.ranks: r for r in runs}
    for i, p in enumerate(ps):
        got = back["data"][("step", "time")][i]
        np.testing.assert_allclose(got, by_p[p].steps["step_seconds"][1:], rtol=1e-8)
        np.testing.assert_allclose(back["data"][("comm", "time")][i],
                                   by_p[p].steps["comm_seconds"][1:], rtol=1e-8)
    exe = os.path.join(os.path.dirname(sys.executable), "extrap")
    assert os.path.exists(exe), "extrap not installed: run scripts/setup-python"
    res = subprocess.run([exe, "--text", out, "--disable-progress"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    models = {}
    region = None
    for line in res.stdout.splitlines():
        m = re.match(r"Callpath: (\S+)", line.strip())
        if m:
            region = m.group(1)
        m = re.match(r"Metric: (\S+)", line.strip())
        if m:
            metric = m.group(1)
        m = re.match(r"Model: (.*)", line.strip())
        if m:
            models[(region, metric)] = m.group(1)
    assert re.search(r"p\^\(3/2\)", models[("comm", "time")]), models
    assert re.search(r"p\^\(1\)", models[("step", "time")]), models


def test_anderson_crossover_and_penalty(tmp_path):
    # plain: 4 - 0.01 t at 1.0 s/step; Anderson: 4.055 - 0.02 t at 1.2 s/step. Anderson is
    # below from t > 5.5, i.e. t = 6 (step 7, 1-based); in wall time Anderson at 1.2 (i+1) s
    # has 4.055 - 0.02 i while plain has 4 - 0.01 (1.2 (i+1) - 1) there: below from
    # i > 7.125, i.e. i = 8 (10.8 s).
    n = 20
    t = np.arange(n)
    base = deck(optim__lr=1e-3)
    ander = deck(optim__lr=1e-3)
    ander["optim"]["anderson"] = {"m": 3}
    write_log(str(tmp_path / "plain" / "run_0.h5"), base, Mesh("2d", 1), np.full(n, 1.0),
              losses=4 - 0.01 * t)
    write_log(str(tmp_path / "anderson" / "run_0.h5"), ander, Mesh("2d", 1), np.full(n, 1.2),
              losses=4.055 - 0.02 * t)
    runs = read_sweep(str(tmp_path))
    pairs = anderson.pairs(runs)
    assert len(pairs) == 1
    c = anderson.crossover(*pairs[0], window=1)
    assert c["crossover_step"] == 7
    assert c["crossover_wall_s"] == pytest.approx(10.8)
    assert c["penalty_s_per_step"] == pytest.approx(0.2)
    assert c["penalty_fraction"] == pytest.approx(0.2)
