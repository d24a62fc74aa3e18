// GPU test: Collectives on device memory through each backend that takes it, with the same
// closed-form checks as the host test (tests/support/collectives_checks.hpp): every collective
// on every axis of every mesh gives the MPI result and records exactly the logical bytes of
// comm_stats.hpp. Each backend is its own CTest entry (--gtest_filter) so that a backend this
// machine cannot run is reported as skipped, with the reason.
#include <gtest/gtest.h>
#include <mpi.h>

#include <string>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "gpu/gpu_test_support.hpp"
#include "parallel/collectives.hpp"
#include "support/collectives_checks.hpp"

namespace zoptimus {
namespace {

using test_support::check_axis;
using test_support::DeviceMemory;
using test_support::HostMemory;
using test_support::meshes_of;
using test_support::skip_line;

// The closed-form checks on every mesh of the world, on device memory and (for the backends
// that also take it) on host memory: the host calls of "nccl" go through MPI, counted alike.
void check_every_mesh(CommBackend backend, bool host_too) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (const MeshShape& shape : meshes_of(world)) {
    SCOPED_TRACE(shape.describe() + " backend " + to_string(backend));
    Mesh mesh(MPI_COMM_WORLD, shape);
    CommStats stats;
    Collectives coll(mesh, stats, backend);
    EXPECT_EQ(coll.backend(), backend);
    for (Axis axis : {Axis::Row, Axis::Col, Axis::Model, Axis::Dp, Axis::World, Axis::Pp}) {
      DeviceMemory device;
      check_axis(coll, axis, device);
      if (host_too) {
        HostMemory host;
        check_axis(coll, axis, host);
      }
    }
  }
}

TEST(CollectivesDevice, Nccl) {
  if (!build_info::kHaveNccl) GTEST_SKIP() << skip_line("built without NCCL");
  const std::string why = test_support::one_gpu_per_rank_missing();
  if (!why.empty()) GTEST_SKIP() << skip_line(why);
  EXPECT_EQ(select_comm_backend("nccl"), CommBackend::Nccl);
  check_every_mesh(CommBackend::Nccl, true);
}

TEST(CollectivesDevice, CudaAwareMpi) {
  const std::string why = cuda_aware_mpi_missing();
  if (!why.empty()) {
    // Refused at start-up with the reason, never accepted silently. The skip line only
    // when that held: CTest turns any output with it into a skip, failures included.
    EXPECT_THROW(select_comm_backend("cuda-aware-mpi"), Error);
    if (::testing::Test::HasFailure()) return;
    GTEST_SKIP() << skip_line("cuda-aware-mpi: " + why);
  }
  EXPECT_EQ(select_comm_backend("cuda-aware-mpi"), CommBackend::CudaAwareMpi);
  check_every_mesh(CommBackend::CudaAwareMpi, true);
}

// "mpi" takes host memory: device memory on an axis of several ranks is refused with one
// message on every rank (not handed to MPI); on one rank nothing moves and every collective
// works on device memory (local copies).
TEST(CollectivesDevice, MpiBackend) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world == 1) {
    check_every_mesh(CommBackend::Mpi, false);
    return;
  }
  MeshShape shape;
  shape.mode = MeshMode::OneD;
  shape.t = world;
  Mesh mesh(MPI_COMM_WORLD, shape);
  CommStats stats;
  Collectives coll(mesh, stats, CommBackend::Mpi);
  DeviceMemory device;
  float* x = device.put(std::vector<float>(4, 1.0f));
  try {
    coll.allreduce_sum(Axis::Row, x, 4);
    ADD_FAILURE() << "device memory was handed to the host-only MPI backend";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use \"nccl\" or \"cuda-aware-mpi\""), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(stats.total_calls(), 0);
}

}  // namespace
}  // namespace zoptimus
