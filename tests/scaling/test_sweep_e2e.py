"""The sweep generator end to end on this machine: strong and weak sweeps of the tiny model
for Frontera CLX (ibrun, concurrent packing), generic Slurm (srun, serial packing) and local
(mpirun), run through the stand-in sbatch/ibrun/srun of tests/scaling/fakebin (which call
scripts/mpirun); then the report turns the run logs into the table, every plot and the
Extra-P files. Also: every generated script passes bash -n and shellcheck; the problem size
each run log records is the one the generator printed; the comm bytes each rank counted
equal the closed forms of analysis/costs.py exactly.

Needs ZOPTIMUS (path of the zoptimus binary) in the environment."""
import csv
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)

from analysis import extrap, report  # noqa: E402
from analysis.costs import forward_traffic  # noqa: E402
from analysis.runlog import read_sweep  # noqa: E402

SWEEP = os.path.join(ROOT, "jobscripts", "sweep")
FAKEBIN = os.path.join(ROOT, "tests", "scaling", "fakebin")
TINY = os.path.join(ROOT, "inputs", "tiny.toml")


def zoptimus() -> str:
    z = os.environ.get("ZOPTIMUS", os.path.join(ROOT, "build", "bin", "zoptimus"))
    assert os.access(z, os.X_OK), f"no zoptimus binary at {z} (set ZOPTIMUS)"
    return z


def gen(*args, check=True):
    res = subprocess.run([sys.executable, SWEEP, *args], capture_output=True, text=True,
                         timeout=60)
    if check:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


def lint(paths):
    for p in paths:
        r = subprocess.run(["bash", "-n", p], capture_output=True, text=True)
        assert r.returncode == 0, f"bash -n {p}: {r.stderr}"
    sc = shutil.which("shellcheck")
    assert sc, "shellcheck missing: scripts/setup installs it"
    r = subprocess.run([sc, "-S", "warning", *paths], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    top = tmp_path_factory.mktemp("sweeps")
    z = zoptimus()
    common = ["--deck", TINY, "--steps", "5", "--bin", z]
    out = {}
    out["strong"] = gen("--machine", "frontera-clx", "--scaling", "strong", "--mesh",
                        "2d,1d,1d:dp=2", "--ranks", "1,2,4", "--ranks-per-node", "2",
                        "--pack", "concurrent", "--pack-nodes", "3", "--out",
                        str(top / "strong"), *common).stdout
    out["weak"] = gen("--machine", "slurm", "--scaling", "weak", "--mesh", "2d,1d", "--ranks",
                      "1,2,4", "--pack", "serial", "--out", str(top / "weak"), *common).stdout
    out["local"] = gen("--machine", "local", "--scaling", "strong", "--mesh", "1d", "--ranks",
                       "2", "--out", str(top / "local"), *common).stdout
    # the same local point with Anderson extrapolation: its plain counterpart is "local"
    out["anderson"] = gen("--machine", "local", "--scaling", "strong", "--mesh", "1d", "--ranks",
                          "2", "--set", "optim.anderson.m=2", "--out", str(top / "anderson"),
                          *common).stdout
    # RTX: generated and linted only (no GPUs here)
    out["rtx"] = gen("--machine", "frontera-rtx", "--scaling", "weak", "--mesh", "2d,1d",
                     "--ranks", "4,16", "--out", str(top / "rtx"), *common).stdout
    env = dict(os.environ, PATH=FAKEBIN + os.pathsep + os.environ["PATH"])
    for name in ("strong", "weak", "local", "anderson"):
        r = subprocess.run(["bash", str(top / name / "submit.sh")], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    rep = top / "report"
    res = report.build(str(top), str(rep), predict_problem=None, max_fit_ranks=2)
    return top, out, res


def test_every_script_passes_bash_n_and_shellcheck(sweeps):
    top, _, _ = sweeps
    scripts = glob.glob(str(top / "*" / "jobs" / "*")) + glob.glob(str(top / "*" / "submit.sh"))
    assert len(scripts) >= 8
    lint(scripts + glob.glob(os.path.join(FAKEBIN, "*")))


def test_listing_and_naming(sweeps):
    top, out, _ = sweeps
    s = out["strong"]
    for point in ("strong-2d-n1", "strong-2d-n4", "strong-1d-n1", "strong-1d-n2",
                  "strong-1d+dp2-n2", "strong-1d+dp2-n4"):
        assert point in s
    assert "skipped: 1d on 4 ranks: model.heads = 6 is not a multiple of 4" in s
    assert "node-hours" in s
    # concurrent packing: 6 points of 1 or 2 nodes in jobs of at most 3 nodes, ibrun offsets
    jobs = sorted(glob.glob(str(top / "strong" / "jobs" / "*.sbatch")))
    text = "".join(open(j).read() for j in jobs)
    assert "ibrun -n 4 -o 2 " in text or "ibrun -n 4 -o 4 " in text
    code = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    assert not any("mpirun" in ln for ln in code)  # never mpirun on Frontera
    assert "#SBATCH -p small" in text
    # the RTX sweep: one rank per GPU, 4 per node, rtx queue
    rtx = open(glob.glob(str(top / "rtx" / "jobs" / "*n16*"))[0]).read()
    assert "#SBATCH -N 4" in rtx and "#SBATCH -p rtx" in rtx and "module load cuda" in rtx
    # every run directory names its point and holds one finished log
    meta = json.load(open(top / "strong" / "sweep.json"))
    for p in meta["points"]:
        assert os.path.exists(top / "strong" / "runs" / p["name"] / "DONE")
        assert os.path.exists(top / "strong" / "runs" / p["name"] / "run_0.h5")


def test_bad_input_is_one_clear_message(tmp_path):
    r = gen("--machine", "frontera-clx", "--deck", TINY, "--scaling", "strong", "--mesh", "3d",
            "--ranks", "4", "--dry-run", check=False)
    assert r.returncode == 2 and "--mesh '3d'" in r.stderr
    r = gen("--machine", "frontera-clx", "--deck", TINY, "--scaling", "strong", "--mesh",
            "1d:dp=200000", "--set", "data.batch=200000", "--ranks", "200000", "--dry-run",
            check=False)
    assert r.returncode == 2 and "no frontera-clx queue takes 3572 nodes" in r.stderr, r.stderr


def test_logs_hold_the_generated_problem_and_closed_form_bytes(sweeps):
    top, _, _ = sweeps
    runs = read_sweep(str(top))
    assert len(runs) == 6 + 5 + 1 + 1
    for sweep in ("strong", "weak"):
        meta = json.load(open(top / sweep / "sweep.json"))
        by_name = {r.point: r for r in runs if r.path.startswith(str(top / sweep) + os.sep)}
        for p in meta["points"]:
            r = by_name[p["name"]]
            assert r.mesh.ranks == p["ranks"] and r.mesh.family() == p["family"]
            assert (r.problem.hidden, r.problem.heads, r.problem.ffn) == (p["hidden"], p["heads"], p["ffn"])
            assert r.problem.batch * r.mesh.dp == p["batch"]
            assert r.problem.step_flops(r.mesh.dp) / 1e9 == pytest.approx(p["W_gflop"], rel=1e-12)
    # weak scaling held FLOPs per rank within the rounding the generator printed (< 10 %)
    weak = json.load(open(top / "weak" / "sweep.json"))["points"]
    for fam in ("2d", "1d"):
        w = [p["W_gflop"] / p["ranks"] for p in weak if p["family"] == fam]
        assert max(w) / min(w) < 1.1, w
    for r in runs:
        want = forward_traffic(r.problem, r.mesh).total_bytes() * r.forwards()
        assert np.all(r.comm_bytes_recv() == want), (r.point, r.comm_bytes_recv(), want)


def test_report_has_table_plots_and_extrap(sweeps):
    top, _, res = sweeps
    rep = top / "report"
    rows = list(csv.DictReader(open(rep / "table.csv")))
    assert len(rows) == 13
    assert {r["scaling"] for r in rows} == {"strong", "weak"}
    readme = open(rep / "README.md").read()
    pngs = sorted(os.path.basename(p) for p in glob.glob(str(rep / "*.png")))
    for name in ("strong_scaling.png", "weak_scaling.png", "breakdown.png", "comm_bytes.png",
                 "isoefficiency.png", "loss.png", "model_fit.png", "predict_frontera_clx.png",
                 "predict_frontera_rtx.png", "predict_h100_node.png"):
        assert name in pngs
        assert os.path.getsize(rep / name) > 10000
        assert f"]({name})" in readme
    assert len(res["extrap"]) >= 3
    for p in res["extrap"]:
        back = extrap.read(p)
        assert back["parameters"][0] == "p" and len(back["points"]) >= 2
        assert all(len(v) == len(back["points"]) for v in back["data"].values())
    # the Anderson run is paired with its plain counterpart: a crossover row with a penalty
    assert len(res["crossovers"]) == 1
    c = res["crossovers"][0]
    assert (c["anderson"], c["plain"]) == ("anderson/strong-1d-n2", "local/strong-1d-n2")
    assert np.isfinite(c["penalty_s_per_step"])
    assert "anderson(m=2)" in readme
    # the strong sweep's 1-rank runs are the efficiency base of 1D and 2D alike
    strong = [r for r in rows if r["scaling"] == "strong" and r["ranks"] == "1"]
    assert strong and all(float(r["efficiency"]) > 0 for r in strong)
