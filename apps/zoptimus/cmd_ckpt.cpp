// `zoptimus ckpt info|replay ...`: checkpoint tools (being built).
#include <mpi.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

int run_ckpt(const std::string& action, const std::vector<std::string>&) {
  fail_on_all_ranks(MPI_COMM_WORLD,
                    fmt::format("zoptimus ckpt {}: checkpoints are not in this build yet", action));
}

}  // namespace zoptimus::app
