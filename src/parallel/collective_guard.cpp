// Agreement on failures across ranks.
#include "parallel/collective_guard.hpp"
#include "parallel/broadcast_string.hpp"

#include <climits>

namespace zoptimus::detail {

void agree_on_failure(MPI_Comm comm, bool failed, const std::string& message) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int counts[2] = {failed ? 1 : 0, failed ? -rank : -INT_MAX};  // SUM, and MAX of -rank
  int sum = 0, neg_first = 0;
  MPI_Allreduce(&counts[0], &sum, 1, MPI_INT, MPI_SUM, comm);
  if (sum == 0) return;
  MPI_Allreduce(&counts[1], &neg_first, 1, MPI_INT, MPI_MAX, comm);
  const int first = -neg_first;
  std::string agreed = rank == first ? message : std::string();
  broadcast_string(agreed, first, comm);
  throw AgreedError(agreed, first, sum, size);
}

}  // namespace zoptimus::detail
