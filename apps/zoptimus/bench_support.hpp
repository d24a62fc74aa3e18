// Small helpers shared by the benchmark subcommands.
#pragma once

#include <mpi.h>

namespace zoptimus::app {

// The slowest rank's value: benchmarks report what the whole job waits for.
inline double max_over_ranks(double v) {
  double out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return out;
}

}  // namespace zoptimus::app
