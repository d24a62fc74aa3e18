"""Perturbation parallelism (parallel.pp) as a sweep axis, end to end on this machine: a local
strong sweep of the tiny model with n_perturb = 4 over 2d, 2d:pp=2 and 2d:pp=4 (one rank per
model copy), run through scripts/mpirun; then the analysis' strong scaling in n.

Checks: the run logs of pp = 1, 2, 4 hold bitwise identical losses (the same trajectory),
each names its pp in the mesh attribute, /ranks/pp_allreduce_bytes_sent equals the closed
form steps x 2(pp-1)/pp x 2n x 8 bytes on every rank (and no other axis moves a byte: the
model mesh is 1x1), and the report writes the pp table. Needs ZOPTIMUS in the environment."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)

from analysis import ppscaling, report  # noqa: E402
from analysis.runlog import read_sweep  # noqa: E402

SWEEP = os.path.join(ROOT, "jobscripts", "sweep")
TINY = os.path.join(ROOT, "inputs", "tiny.toml")
STEPS, N = 4, 4


def gen(*args):
    return subprocess.run([sys.executable, SWEEP, *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    top = tmp_path_factory.mktemp("ppsweep")
    z = os.environ.get("ZOPTIMUS", os.path.join(ROOT, "build", "bin", "zoptimus"))
    assert os.access(z, os.X_OK), f"no zoptimus binary at {z} (set ZOPTIMUS)"
    res = gen("--machine", "local", "--scaling", "strong", "--mesh", "2d,2d:pp=2,2d:pp=4",
              "--ranks", "1,2,4", "--set", f"optim.n_perturb={N}", "--steps", str(STEPS),
              "--deck", TINY, "--bin", z, "--out", str(top / "pp"))
    assert res.returncode == 0, res.stdout + res.stderr
    r = subprocess.run(["bash", str(top / "pp" / "submit.sh")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return top, res.stdout


def test_listing_names_the_pp_points(sweep):
    _, listing = sweep
    for point in ("strong-2d-n1", "strong-2d+pp2-n2", "strong-2d+pp4-n4"):
        assert point in listing
    assert "2d+pp2 on 4 ranks: not dp x pp x q^2" in listing


def test_same_trajectory_and_only_loss_scalars_on_pp(sweep):
    top, _ = sweep
    runs = {r.mesh.pp: r for r in read_sweep(str(top / "pp")) if r.mesh.side == 1}
    assert sorted(runs) == [1, 2, 4]
    for pp, r in runs.items():
        assert (f"pp={pp} x " in r.attrs["mesh"]) == (pp > 1)
        for k in ("loss_plus", "loss_minus", "projected_grad"):
            assert np.array_equal(r.steps[k], runs[1].steps[k]), (pp, k)
        want = ppscaling.pp_bytes_per_rank(N, pp, STEPS)
        print(f"pp={pp}: pp_allreduce_bytes_sent per rank {r.ranks['pp_allreduce_bytes_sent']}"
              f", closed form {want}")
        assert list(r.ranks["pp_allreduce_bytes_sent"]) == [want] * pp
        assert list(r.ranks["pp_allreduce_bytes_recv"]) == [want] * pp
        assert list(r.ranks["pp_allreduce_calls"]) == [STEPS if pp > 1 else 0] * pp
        other = sum(np.asarray(v) for k, v in r.ranks.items()
                    if k.endswith("_bytes_sent") and not k.startswith("pp_"))
        assert np.all(other == 0), pp


def test_report_has_the_pp_table(sweep):
    top, _ = sweep
    res = report.build(str(top / "pp"), str(top / "report"), max_fit_ranks=2)
    rows = [r for r in res["pp"] if r["mesh"].startswith("2D 1x1")]
    assert [r["pp"] for r in rows] == [1, 2, 4]
    assert rows[0]["speedup"] == 1.0
    for r in rows:
        assert r["pp_bytes_per_rank"] == r["pp_bytes_formula"]
    # the sweep table's closed form counts the pp allreduce (1x1 meshes: nothing else moves)
    for row in res["rows"]:
        if "+pp" in row["family"]:
            assert row["comm_MB_per_rank"] == pytest.approx(row["comm_MB_formula"], rel=1e-12)
    assert os.path.exists(top / "report" / "pp_scaling.md")
    assert "Strong scaling in n" in open(top / "report" / "README.md").read()


def test_bad_pp_option_is_one_clear_message(tmp_path):
    r = gen("--machine", "local", "--scaling", "strong", "--mesh", "2d:pp=x", "--ranks", "2",
            "--deck", TINY, "--dry-run")
    assert r.returncode == 2 and "the options are dp=N and pp=N" in r.stderr
    r = gen("--machine", "local", "--scaling", "strong", "--mesh", "2d:pp=3", "--ranks", "3",
            "--deck", TINY, "--set", "optim.n_perturb=4", "--dry-run")
    assert r.returncode == 2 and "optim.n_perturb = 4 is not divisible by pp = 3" in r.stderr
