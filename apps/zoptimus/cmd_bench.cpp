// `zoptimus bench <what> DECK`: dispatch to the benchmark asked for.
#include <mpi.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

int bench_mesh(const RunSetup& setup);
int bench_forward(const RunSetup& setup, int reps);
int bench_zo(const RunSetup& setup, int reps);
int bench_ckpt(const RunSetup& setup, int reps);

int run_bench(const std::string& what, const DeckArgs& args, int reps) {
  RunSetup setup = setup_run(args, "bench " + what);
  if (what == "mesh") return bench_mesh(setup);
  if (what == "forward") return bench_forward(setup, reps);
  if (what == "zo") return bench_zo(setup, reps);
  if (what == "ckpt") return bench_ckpt(setup, reps);
  fail_on_all_ranks(MPI_COMM_WORLD, fmt::format("zoptimus bench {}: not in this build yet", what));
}

}  // namespace zoptimus::app
