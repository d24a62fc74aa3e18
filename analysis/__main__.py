"""python3 -m analysis COMMAND ...: report, table, fit, predict, which-mesh, extrap."""
from __future__ import annotations

import argparse
import os
import sys
import tomllib

from . import extrap, perfmodel, report, scaling
from .costs import Mesh, Problem
from .runlog import read_sweep


def _deck_problem(path: str, batch: int | None) -> Problem:
    with open(path, "rb") as f:
        pb = Problem.from_deck(tomllib.load(f))
    if batch:
        from dataclasses import replace
        pb = replace(pb, batch=batch)
    return pb


def _machine(name: str) -> dict:
    path = name if os.path.exists(name) else os.path.join(report.MACHINES_DIR, name + ".toml")
    if not os.path.exists(path):
        sys.exit(f"analysis: no machine file {name!r} (give a path or one of "
                 f"{[os.path.basename(p)[:-5] for p in report.default_machines()]})")
    return perfmodel.load_machine(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m analysis",
                                 description="Scaling analysis of zoptimus run logs (docs/scaling.md)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="sweep directory -> report folder (table, plots, summary)")
    r.add_argument("sweep")
    r.add_argument("-o", "--out", required=True)
    r.add_argument("--machine", action="append", help="machine file(s) for predictions (default: all)")
    r.add_argument("--efficiency", type=float, default=0.5, help="E for isoefficiency (default 0.5)")
    r.add_argument("--holdout", help="regex on <sweep>/<point>: runs left out of the model fit")
    r.add_argument("--max-fit-ranks", type=int, help="fit the model on runs of at most this many ranks")
    r.add_argument("--predict-deck", help="deck of the model to predict on the machine files "
                                          "(default: the sweep's fewest-rank run)")
    t = sub.add_parser("table", help="print the sweep table (Markdown) or write CSV")
    t.add_argument("sweep")
    t.add_argument("--csv")
    fz = sub.add_parser("fit", help="fit the performance model; print it as a machine file")
    fz.add_argument("sweep")
    p = sub.add_parser("predict", help="model step time / efficiency / memory of 1D and 2D")
    p.add_argument("--deck", required=True)
    p.add_argument("--machine", required=True)
    p.add_argument("--batch", type=int, help="override data.batch")
    p.add_argument("--devices", default="16,64,256,1024")
    w = sub.add_parser("which-mesh", help="fastest admissible mesh for a deck on N nodes")
    w.add_argument("--deck", required=True)
    w.add_argument("--machine", required=True)
    w.add_argument("--nodes", type=int, required=True)
    w.add_argument("--batch", type=int, help="global batch (default: the deck's data.batch)")
    w.add_argument("--top", type=int, default=8)
    x = sub.add_parser("extrap", help="write Extra-P text inputs, one per partitioning")
    x.add_argument("sweep")
    x.add_argument("-o", "--out", required=True)
    for sp in (r, t, fz):
        sp.add_argument("--stat", choices=["median", "min"], default="median",
                        help="step time of a run: median over steps (default) or minimum "
                             "(for shared, oversubscribed machines)")
    a = ap.parse_args(argv)
    if getattr(a, "stat", None):
        from . import runlog
        runlog.set_statistic(a.stat)

    if a.cmd == "report":
        if not 0 < a.efficiency < 1:
            sys.exit("analysis: --efficiency must be in (0, 1)")
        pred = _deck_problem(a.predict_deck, None) if a.predict_deck else None
        res = report.build(a.sweep, a.out, a.machine, a.efficiency, a.holdout, a.max_fit_ranks, pred)
        print(f"report: {a.out}/README.md ({len(res['rows'])} runs, {len(res['figures'])} figures, "
              f"{len(res['extrap'])} Extra-P files)")
    elif a.cmd == "table":
        rows = scaling.table(read_sweep(a.sweep), scaling.sweep_meta(a.sweep))
        if a.csv:
            scaling.write_csv(rows, a.csv)
        print(scaling.markdown(rows), end="")
    elif a.cmd == "fit":
        m = perfmodel.fit(read_sweep(a.sweep))
        print(perfmodel.machine_toml(m), end="")
    elif a.cmd == "predict":
        pb, m = _deck_problem(a.deck, a.batch), _machine(a.machine)
        print(f"{m['name']}: {pb.params() / 1e6:.4g} M parameters, batch {pb.batch} x {pb.seq_len}")
        print(f"{'devices':>8} {'mesh':>14} {'step_ms':>10} {'efficiency':>10} {'MiB/dev':>10} fits")
        for n in (int(v) for v in a.devices.split(",")):
            for mesh in perfmodel.mesh_options(pb, n, max_dp=1):
                pr = perfmodel.predict(pb, mesh, m)
                print(f"{n:>8} {mesh.label():>14} {pr['step_s'] * 1e3:>10.4g} "
                      f"{perfmodel.efficiency(pb, mesh, m):>10.3f} {pr['memory_bytes'] / 2**20:>10.4g} {pr['fits']}")
    elif a.cmd == "which-mesh":
        pb, m = _deck_problem(a.deck, a.batch), _machine(a.machine)
        rows = perfmodel.which_mesh(pb, a.nodes, m)
        if not rows:
            print(f"no admissible mesh of {pb.params() / 1e6:.4g} M parameters on {a.nodes} nodes")
            return 1
        print(f"{m['name']}, {a.nodes} nodes, global batch {pb.batch}: fastest first")
        for r in rows[: a.top]:
            print(f"  {r['mesh']:>18} ranks {r['ranks']:>6} step {r['step_s'] * 1e3:9.4g} ms "
                  f"memory {r['memory_bytes'] / 2**20:9.4g} MiB/dev {'fits' if r['fits'] else 'DOES NOT FIT'}")
    elif a.cmd == "extrap":
        runs = read_sweep(a.sweep)
        os.makedirs(a.out, exist_ok=True)
        for fam in sorted({r.mesh.family() for r in runs}):
            path = os.path.join(a.out, f"extrap_{fam}.txt")
            extrap.export([r for r in runs if r.mesh.family() == fam], path)
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
