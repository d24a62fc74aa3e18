// MPI + Kokkos + DeviceContext lifetime.
#include "core/runtime.hpp"

#include <mpi.h>

#include <Kokkos_Core.hpp>

#include "core/log.hpp"

namespace zoptimus {

Runtime::Runtime(int& argc, char**& argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size_);
  log::set_rank(world_rank_);
  Kokkos::initialize(argc, argv);
  device_ = std::make_unique<DeviceContext>();
}

Runtime::~Runtime() {
  device_.reset();  // handles and streams go before the device they live on
  if (Kokkos::is_initialized()) Kokkos::finalize();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace zoptimus
