#!/usr/bin/python3
"""Summary tables for scripts/finetune_comparison (docs/finetune.md), from what it left in OUT:
the compare_methods JSON of each task and the `zoptimus bench zo` lines in OUT/timing.txt.

  scripts/finetune_summary.py OUT

Prints, per task: steps to fixed validation-loss levels (deterministic: a seed gives the same
trajectory on every run), how many evaluations each Anderson run is below its plain run at the
same step, and the step cost of every method from `bench zo` (the smallest of the repeated
medians: the least disturbed by other load, still only indicative on a shared machine)."""
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

out = Path(sys.argv[1])
LEVELS = {"shift": [8.0, 6.0, 5.0, 4.5], "cls": [1.0, 0.6, 0.3, 0.1]}
TITLES = {"shift": "shifted domain (LM)", "cls": "classification"}


def name(r, tag=""):
    return f"{r['method']}{tag}" + (f" + Anderson m={r['m']}" if r["m"] else "")


def first_step(r, level):
    for s, l in zip(r["eval_step"], r["eval_loss"]):
        if l <= level:
            return str(int(s))
    return "-"


for task in ("shift", "cls"):
    rows = json.loads((out / f"{task}.json").read_text())["rows"]
    extra = out / f"{task}_sparse_lr.json"
    if extra.exists():
        rows += [dict(r, tag=" (5x lr)") for r in json.loads(extra.read_text())["rows"]
                 if r["method"] == "sparse_mezo"]
    levels = LEVELS[task]
    print(f"\n#### {TITLES[task]}: first evaluation step at or below a validation loss\n")
    print("| run | " + " | ".join(f"<= {l}" for l in levels) + " | best (step) |")
    print("| --- |" + " --- |" * (len(levels) + 1))
    for r in rows:
        best = min(range(len(r["eval_loss"])), key=lambda i: r["eval_loss"][i])
        print(f"| {name(r, r.get('tag', ''))} | " + " | ".join(first_step(r, l) for l in levels)
              + f" | {r['eval_loss'][best]:.4f} ({int(r['eval_step'][best])}) |")
    print(f"\n{TITLES[task]}: evaluations (after step 0) where Anderson m=2 is below plain at "
          "the same step:")
    for plain, acc in zip(rows[0:6:2], rows[1:6:2]):
        wins = sum(a < p for a, p in zip(acc["eval_loss"][1:], plain["eval_loss"][1:]))
        print(f"- {plain['method']}: {wins} of {len(plain['eval_loss']) - 1}")

# bench zo: "method m step_ms" per line, several rounds; the smallest median per config.
timing = out / "timing.txt"
if timing.exists():
    best = defaultdict(lambda: float("inf"))
    for line in timing.read_text().splitlines():
        m = re.match(r"^(\w+) (\d+) step_ms=([\d.]+) forward_ms=([\d.]+)$", line)
        if m:
            key = (m.group(1), int(m.group(2)))
            best[key] = min(best[key], float(m.group(3)))
            best[("forward", 0)] = min(best[("forward", 0)], float(m.group(4)))
    base = best[("mezo", 0)]
    print("\n#### step cost (`zoptimus bench zo`, 1 rank, batch 8 x 32 tokens)\n")
    print(f"one forward pass: {best[('forward', 0)]:.3f} ms\n")
    print("| method | ms/step | MeZO ms / this ms | Anderson m=2 ms/step | mixing penalty |")
    print("| --- | --- | --- | --- | --- |")
    for method in ("mezo", "sparse_mezo", "lezo"):
        plain, acc = best[(method, 0)], best[(method, 2)]
        print(f"| {method} | {plain:.3f} | {base / plain:.2f} | {acc:.3f} | "
              f"{acc / plain:.2f}x |")
