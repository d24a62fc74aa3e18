// Broadcasting a string (its length, then its bytes) from one rank to a communicator.
#pragma once

#include <mpi.h>

#include <string>

namespace zoptimus {

// Collective: on return every rank of comm holds root's `text`.
void broadcast_string(std::string& text, int root, MPI_Comm comm);

}  // namespace zoptimus
