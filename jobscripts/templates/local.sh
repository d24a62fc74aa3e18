#!/bin/bash
# zoptimus on this machine through scripts/mpirun (Open MPI: --oversubscribe when needed).
# Written by jobscripts/sweep from jobscripts/templates/local.sh; run with `bash THIS_FILE`.
# Timings of oversubscribed runs (more ranks than free cores) mean nothing.
set -uo pipefail
export OMP_NUM_THREADS={{THREADS}} OPENBLAS_NUM_THREADS={{THREADS}}
MPIRUN={{MPIRUN}}
ZOPTIMUS={{BIN}}
DECK={{DECK}}
SWEEP={{SWEEP}}
status=0
{{LAUNCHES}}
exit "$status"
