// `zoptimus bench mesh`: latency and bandwidth of the collectives each mesh communicator
// carries (row/column broadcasts, allreduces), so users can see what their fabric gives.
#include <mpi.h>

#include <functional>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "core/log.hpp"

namespace zoptimus::app {
namespace {

struct CommCase {
  const char* name;
  MPI_Comm comm;
};

double time_collective(MPI_Comm comm, int reps, const std::function<void()>& op) {
  MPI_Barrier(comm);
  double t0 = MPI_Wtime();
  for (int i = 0; i < reps; ++i) op();
  double local = (MPI_Wtime() - t0) / reps, slowest = 0;
  MPI_Allreduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm);
  return slowest;
}

}  // namespace

int bench_mesh(const RunSetup& setup) {
  const Mesh& mesh = *setup.mesh;
  const CommCase cases[] = {{"row", mesh.row_comm()},
                            {"col", mesh.col_comm()},
                            {"model", mesh.model()},
                            {"dp", mesh.dp_comm()}};
  const int sizes[] = {256, 65536, 1 << 20};  // floats
  const int reps = 10;
  for (const auto& c : cases) {
    int n = 1;
    MPI_Comm_size(c.comm, &n);
    for (int count : sizes) {
      std::vector<float> buf(count, 1.0f), out(count);
      double t_ar = 0, t_bc = 0;
      if (n > 1) {
        t_ar = time_collective(c.comm, reps, [&] {
          MPI_Allreduce(buf.data(), out.data(), count, MPI_FLOAT, MPI_SUM, c.comm);
        });
        t_bc = time_collective(c.comm, reps,
                               [&] { MPI_Bcast(buf.data(), count, MPI_FLOAT, 0, c.comm); });
      }
      const double bytes = 4.0 * count;
      // Ring-allreduce bus bandwidth convention: 2 (n-1)/n of the buffer crosses each link.
      const double ar_gbs = n > 1 ? 2.0 * (n - 1) / n * bytes / t_ar / 1e9 : 0.0;
      const double bc_gbs = n > 1 ? bytes / t_bc / 1e9 : 0.0;
      log::info(
          "bench_mesh comm={} ranks={} bytes={:.0f} allreduce_us={:.2f} "
          "allreduce_busbw_GBs={:.3f} bcast_us={:.2f} bcast_GBs={:.3f}",
          c.name, n, bytes, t_ar * 1e6, ar_gbs, t_bc * 1e6, bc_gbs);
    }
  }
  return 0;
}

}  // namespace zoptimus::app
