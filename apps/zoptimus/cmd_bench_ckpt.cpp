// `zoptimus bench ckpt DECK`: writes the deck's model as an HDF5 checkpoint in io.out_dir and
// reads it back; reports the file size and MB/s (1 MB = 1e6 bytes, slowest rank between
// barriers), and checks that the weights read back equal the written ones bit for bit.
#include <mpi.h>

#include <cstring>
#include <filesystem>

#include "commands.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "io/checkpoint.hpp"
#include "parallel/collective_guard.hpp"
#include "train/model_session.hpp"

namespace zoptimus::app {

namespace {

// Seconds fn takes on the slowest rank, started together.
template <class Fn>
double slowest_seconds(MPI_Comm comm, Fn&& fn) {
  MPI_Barrier(comm);
  Timer timer;
  fn();
  double local = timer.seconds(), slowest = 0;
  MPI_Allreduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm);
  return slowest;
}

// Local elements whose bits differ between two stores with one table.
std::int64_t differing_elements(const ParameterStore& a, const ParameterStore& b) {
  std::int64_t differ = 0;
  for (const auto& t : a.tensors()) {
    auto x = Kokkos::create_mirror_view_and_copy(HostSpace(), a.data(t.id));
    auto y = Kokkos::create_mirror_view_and_copy(HostSpace(), b.data(t.id));
    for (std::size_t i = 0; i < x.size(); ++i)
      differ += std::memcmp(x.data() + i, y.data() + i, sizeof(float)) != 0;
  }
  return differ;
}

}  // namespace

int bench_ckpt(const RunSetup& setup, int reps) {
  const Config& cfg = setup.config;
  const Mesh& mesh = *setup.mesh;
  const MPI_Comm comm = mesh.world();
  ModelSession session(cfg, mesh);
  const ParameterStore& params = session.model().params();
  const CheckpointSeries series(cfg.io.out_dir, 0, comm);
  const std::string path = series.path_for(0);
  run_collectively(comm, [&] {
    std::error_code ec;
    if (mesh.world_rank() == 0 && !std::filesystem::create_directories(cfg.io.out_dir, ec) && ec)
      fail("io.out_dir = '{}': cannot create the directory: {}", cfg.io.out_dir, ec.message());
  });
  CheckpointState state;
  state.text["written_by"] = "zoptimus bench ckpt";

  double write_s = 0, read_s = 0;
  for (int r = 0; r < reps; ++r)
    write_s += slowest_seconds(comm, [&] { write_checkpoint(path, params, mesh, cfg, state); });
  double bytes = 0;
  if (mesh.world_rank() == 0) bytes = static_cast<double>(std::filesystem::file_size(path));
  MPI_Bcast(&bytes, 1, MPI_DOUBLE, 0, comm);

  ParameterStore back =
      build_opt_parameters(ModelDims::from_config(cfg.model), mesh.shape(), mesh.coords());
  for (int r = 0; r < reps; ++r)
    read_s += slowest_seconds(comm, [&] { read_checkpoint(path, back, mesh, cfg); });
  std::int64_t differ = differing_elements(params, back), differ_all = 0;
  MPI_Allreduce(&differ, &differ_all, 1, MPI_INT64_T, MPI_SUM, comm);
  if (differ_all != 0)
    fail_on_all_ranks(comm, fmt::format("bench ckpt: {} parameter elements read back from '{}' "
                                        "differ from those written",
                                        differ_all, path));

  log::info("bench_ckpt mesh=\"{}\" path={} reps={}", mesh.shape().describe(), path, reps);
  log::info("parameters={}", params.global_count());
  log::info("ckpt_bytes={:.0f}", bytes);
  log::info("write_s={:.4f}", write_s / reps);
  log::info("read_s={:.4f}", read_s / reps);
  log::info("write_MBps={:.1f}", bytes * reps / 1e6 / write_s);
  log::info("read_MBps={:.1f}", bytes * reps / 1e6 / read_s);
  log::info("verify=bitwise_equal");
  return 0;
}

}  // namespace zoptimus::app
