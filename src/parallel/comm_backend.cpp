// CommBackend: parsing parallel.collectives and refusing what this build cannot run.
#include "parallel/comm_backend.hpp"

#include <mpi.h>
#if defined(OPEN_MPI) && OPEN_MPI && defined(__has_include)
#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h>  // MPIX_CUDA_AWARE_SUPPORT, MPIX_Query_cuda_support
#endif
#endif

#include <cstdlib>
#include <cstring>

#include "core/build_info.hpp"
#include "core/error.hpp"

namespace zoptimus {

std::string to_string(CommBackend backend) {
  switch (backend) {
    case CommBackend::Mpi:
      return "mpi";
    case CommBackend::CudaAwareMpi:
      return "cuda-aware-mpi";
    case CommBackend::Nccl:
      return "nccl";
  }
  return "unknown";
}

std::string cuda_aware_mpi_missing() {
#if defined(MPIX_CUDA_AWARE_SUPPORT)
  // Open MPI says at run time whether the library it loaded handles device pointers.
  if (MPIX_Query_cuda_support() == 1) return "";
  return "the MPI library reports no CUDA support (MPIX_Query_cuda_support() = 0)";
#else
  // No query (MPICH, Cray MPICH, Open MPI without mpi-ext.h): the user must vouch for it.
  const char* assume = std::getenv("ZOPTIMUS_CUDA_AWARE_MPI");
  if (assume && std::strcmp(assume, "1") == 0) return "";
  return "this MPI library cannot be asked whether it is CUDA-aware (no "
         "MPIX_Query_cuda_support); set ZOPTIMUS_CUDA_AWARE_MPI=1 if it is";
#endif
}

CommBackend select_comm_backend(const std::string& name) {
  CommBackend backend;
  if (name == "mpi")
    return CommBackend::Mpi;
  else if (name == "cuda-aware-mpi")
    backend = CommBackend::CudaAwareMpi;
  else if (name == "nccl")
    backend = CommBackend::Nccl;
  else
    fail("parallel.collectives = \"{}\" is not a communication backend; use \"mpi\"", name);
  if (!build_info::kHaveCuda)
    fail(
        "parallel.collectives = \"{}\" is not available in this build (built without "
        "CUDA/NCCL); use \"mpi\"",
        to_string(backend));
  if (backend == CommBackend::Nccl) {
    if (!build_info::kHaveNccl)
      fail(
          "parallel.collectives = \"nccl\" is not available in this build (built without NCCL: "
          "configure with NCCL found, ZOPTIMUS_ENABLE_NCCL); use \"mpi\"");
    return backend;
  }
  const std::string why = cuda_aware_mpi_missing();
  if (!why.empty())
    fail(
        "parallel.collectives = \"cuda-aware-mpi\" is not available in this run: {}; use "
        "\"nccl\" or \"mpi\"",
        why);
  return backend;
}

}  // namespace zoptimus
