// Control-plane collectives (see control_collectives.hpp).
#include "parallel/control_collectives.hpp"

#include "core/error.hpp"

namespace zoptimus {
namespace {

void check(int rc, const char* call) {
  if (rc != MPI_SUCCESS) fail("{} failed (MPI error {})", call, rc);
}

template <class T>
void allreduce(MPI_Comm comm, std::vector<T>& values, MPI_Datatype type, MPI_Op op = MPI_SUM) {
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), type, op, comm),
        "MPI_Allreduce");
}

template <class T>
void bcast(MPI_Comm comm, std::vector<T>& values, MPI_Datatype type, int root) {
  check(MPI_Bcast(values.data(), static_cast<int>(values.size()), type, root, comm), "MPI_Bcast");
}

}  // namespace

void allreduce_sum(MPI_Comm comm, std::vector<std::uint64_t>& values) {
  allreduce(comm, values, MPI_UINT64_T);
}

void allreduce_sum(MPI_Comm comm, std::vector<std::int64_t>& values) {
  allreduce(comm, values, MPI_INT64_T);
}

void allreduce_min(MPI_Comm comm, std::vector<std::int64_t>& values) {
  allreduce(comm, values, MPI_INT64_T, MPI_MIN);
}

void broadcast(MPI_Comm comm, std::vector<std::uint64_t>& values, int root) {
  bcast(comm, values, MPI_UINT64_T, root);
}

void broadcast(MPI_Comm comm, std::vector<std::int32_t>& values, int root) {
  bcast(comm, values, MPI_INT32_T, root);
}

}  // namespace zoptimus
