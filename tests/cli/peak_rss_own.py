#!/usr/bin/env python3
"""The peak RSS zoptimus reports is its own, not its parent's.

On Linux getrusage's ru_maxrss survives execve, so a zoptimus started from a large parent (a
Python driver holding PyTorch models, as scripts/bench_matrix is) reported the parent's peak.
Here the parent touches 600 MB before starting `bench forward` on the tiny deck, whose own
peak is a few tens of MB: the reported figure must stay below half of the parent's block, and
above the parameter bytes it reports (a lower bound any real peak exceeds).
"""
import argparse
import re
import subprocess
import sys

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--zoptimus", required=True)
ap.add_argument("--deck", required=True)
a = ap.parse_args()

parent_block = np.ones(600 * 2**20 // 4, dtype=np.float32)  # touched: resident in the parent
r = subprocess.run([a.zoptimus, "bench", "forward", a.deck, "--reps", "1"], capture_output=True,
                   text=True)
out = r.stdout + r.stderr
rss = re.search(r"peak_rss_bytes_per_rank_max=(\d+)", out)
params = re.search(r"param_bytes_per_rank_max=(\d+)", out)
if r.returncode != 0 or not rss or not params:
    sys.exit(f"bench forward failed or printed no memory figures:\n{out}")
rss, params = int(rss.group(1)), int(params.group(1))
ok = params < rss < parent_block.nbytes // 2
print(f"{'ok' if ok else 'FAIL'}: reported peak RSS {rss} bytes (parameters {params}, parent "
      f"holds {parent_block.nbytes})")
sys.exit(0 if ok else 1)
