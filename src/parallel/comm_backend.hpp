// CommBackend: how Collectives moves data, chosen once per run from parallel.collectives.
//
//   "mpi"             MPI on host memory (every build)
//   "cuda-aware-mpi"  MPI handed host or device memory directly (CUDA builds, when the MPI
//                     library reports CUDA support)
//   "nccl"            NCCL on device memory, MPI on host memory (CUDA builds with NCCL)
//
// The pointers a Collectives call takes are memory of its backend's space: host memory
// (CommMemorySpace) for "mpi". On host builds the Views' memory space is host memory, so
// View data may be passed directly.
#pragma once

#include <string>

#include <Kokkos_Core.hpp>

namespace zoptimus {

enum class CommBackend { Mpi, CudaAwareMpi, Nccl };

// The memory space whose pointers the "mpi" backend takes.
using CommMemorySpace = Kokkos::HostSpace;

// The deck spelling ("mpi", "cuda-aware-mpi", "nccl").
std::string to_string(CommBackend backend);

// Parses parallel.collectives and checks that this build implements the backend. Throws
// zoptimus::Error with one message naming the value and what to use instead, e.g.
//   parallel.collectives = "nccl" is not available in this build (built without CUDA/NCCL);
//   use "mpi"
// In a CUDA build, "cuda-aware-mpi" is accepted only when this is empty: Open MPI's
// MPIX_Query_cuda_support() (mpi-ext.h) says the library handles device pointers or, for an
// MPI that cannot be asked, the environment sets ZOPTIMUS_CUDA_AWARE_MPI=1.
CommBackend select_comm_backend(const std::string& name);

// Why MPI cannot be handed device pointers in this run ("" when it can). Needs MPI
// initialised.
std::string cuda_aware_mpi_missing();

}  // namespace zoptimus
