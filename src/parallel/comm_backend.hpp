// CommBackend: how Collectives moves data, chosen once per run from parallel.collectives.
//
//   "mpi"             MPI on host memory (implemented)
//   "cuda-aware-mpi"  MPI handed device memory directly (planned; needs a CUDA build)
//   "nccl"            NCCL on device memory (planned; needs a CUDA build with NCCL)
//
// The pointers a Collectives call takes are memory of its backend's space
// (CommMemorySpace): host memory for "mpi". On host builds the Views' memory space is host
// memory, so View data may be passed directly.
#pragma once

#include <string>

#include <Kokkos_Core.hpp>

namespace zoptimus {

enum class CommBackend { Mpi, CudaAwareMpi, Nccl };

// The memory space whose pointers the MPI backend takes.
using CommMemorySpace = Kokkos::HostSpace;

// The deck spelling ("mpi", "cuda-aware-mpi", "nccl").
std::string to_string(CommBackend backend);

// Parses parallel.collectives and checks that this build implements the backend. Throws
// zoptimus::Error with one message naming the value and what to use instead, e.g.
//   parallel.collectives = "nccl" is not available in this build (built without CUDA/NCCL);
//   use "mpi"
CommBackend select_comm_backend(const std::string& name);

}  // namespace zoptimus
