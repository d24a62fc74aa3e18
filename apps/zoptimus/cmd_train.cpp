// `zoptimus train DECK`: zeroth-order fine-tuning (the optimizers are being built).
#include <mpi.h>

#include "commands.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

int run_train(const DeckArgs& args) {
  RunSetup setup = setup_run(args, "train");
  fail_on_all_ranks(MPI_COMM_WORLD,
                    "zoptimus train: the zeroth-order optimizers are not in this build yet "
                    "(deck and mesh are valid)");
}

}  // namespace zoptimus::app
