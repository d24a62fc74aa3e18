// MPI + Kokkos lifetime.
#include "core/runtime.hpp"

#include <mpi.h>

#include <Kokkos_Core.hpp>

#include "core/log.hpp"
#include "linalg/blas_threads.hpp"

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
  set_default_blas_threads();
}

Runtime::~Runtime() {
  if (Kokkos::is_initialized()) Kokkos::finalize();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace zoptimus
