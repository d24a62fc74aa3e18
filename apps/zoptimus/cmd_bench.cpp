// `zoptimus bench <what> DECK`: dispatch to the benchmark asked for.
#include <mpi.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

int bench_mesh(const RunSetup& setup);

int run_bench(const std::string& what, const DeckArgs& args) {
  RunSetup setup = setup_run(args, "bench " + what);
  if (what == "mesh") return bench_mesh(setup);
  fail_on_all_ranks(MPI_COMM_WORLD, fmt::format("zoptimus bench {}: not in this build yet", what));
}

int run_eval(const DeckArgs& args) {
  RunSetup setup = setup_run(args, "eval");
  fail_on_all_ranks(MPI_COMM_WORLD, "zoptimus eval: the transformer is not in this build yet");
}

}  // namespace zoptimus::app
