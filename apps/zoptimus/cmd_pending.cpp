// Subcommands whose machinery is still being built report so clearly on every rank
// (exit 1), rather than pretending to work.
#include <mpi.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

int run_train(const DeckArgs& args) {
  RunSetup setup = setup_run(args, "train");
  fail_on_all_ranks(MPI_COMM_WORLD,
                    "zoptimus train: the zeroth-order optimizers are not in this build yet "
                    "(deck and mesh are valid)");
}

int run_data(const std::vector<std::string>&) {
  fail_on_all_ranks(MPI_COMM_WORLD, "zoptimus data: HDF5 token datasets are not in this build yet");
}

int run_ckpt(const std::string& action, const std::vector<std::string>&) {
  fail_on_all_ranks(MPI_COMM_WORLD,
                    fmt::format("zoptimus ckpt {}: checkpoints are not in this build yet", action));
}

}  // namespace zoptimus::app
