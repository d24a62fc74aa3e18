// `zoptimus data ...`: builds HDF5 token datasets (being built).
#include <mpi.h>

#include "commands.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

int run_data(const std::vector<std::string>&) {
  fail_on_all_ranks(MPI_COMM_WORLD, "zoptimus data: HDF5 token datasets are not in this build yet");
}

}  // namespace zoptimus::app
