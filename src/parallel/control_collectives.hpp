// Control-plane collectives: agreement on small host vectors (checksums, counts, flags) over
// a raw communicator, e.g. when io/ checks what every rank wrote or read. They are not model
// traffic and are not counted in CommStats; model data goes through Collectives.
#pragma once

#include <cstdint>
#include <vector>

#include <mpi.h>

namespace zoptimus {

// In place: every rank ends with the element-wise sum over `comm`.
void allreduce_sum(MPI_Comm comm, std::vector<std::uint64_t>& values);
void allreduce_sum(MPI_Comm comm, std::vector<std::int64_t>& values);
// In place: the element-wise minimum over `comm`.
void allreduce_min(MPI_Comm comm, std::vector<std::int64_t>& values);

// The root's values on every rank; the vector must have the same size on every rank.
void broadcast(MPI_Comm comm, std::vector<std::uint64_t>& values, int root);
void broadcast(MPI_Comm comm, std::vector<std::int32_t>& values, int root);

}  // namespace zoptimus
