// String broadcast (see broadcast_string.hpp).
#include "parallel/broadcast_string.hpp"

#include <cstdint>

namespace zoptimus {

void broadcast_string(std::string& text, int root, MPI_Comm comm) {
  std::int64_t n = static_cast<std::int64_t>(text.size());
  MPI_Bcast(&n, 1, MPI_INT64_T, root, comm);
  text.resize(static_cast<std::size_t>(n));
  MPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, root, comm);
}

}  // namespace zoptimus
