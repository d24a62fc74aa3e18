// CommBackend: parsing parallel.collectives and refusing what this build cannot run.
#include "parallel/comm_backend.hpp"

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
  // Only the MPI backend on host memory exists so far; say why the others are refused.
  if (!build_info::kHaveCuda)
    fail(
        "parallel.collectives = \"{}\" is not available in this build (built without "
        "CUDA/NCCL); use \"mpi\"",
        to_string(backend));
  fail(
      "parallel.collectives = \"{}\" is not available in this build (not implemented yet: "
      "only \"mpi\", on host memory, is); use \"mpi\"",
      to_string(backend));
}

}  // namespace zoptimus
