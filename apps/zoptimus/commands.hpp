// The subcommands of the zoptimus binary and the options they share.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "model/batch.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {
class ModelSession;
}

namespace zoptimus::app {

// What every deck-driven subcommand gets from the command line.
struct DeckArgs {
  std::string deck;
  std::vector<std::string> overrides;
};

// A validated configuration and the mesh built from it, agreed on by every rank.
struct RunSetup {
  Config config;
  std::unique_ptr<Mesh> mesh;
};

// Reads the deck, applies overrides, resolves and validates the mesh on every rank; any
// failure becomes the same error on all ranks. Prints a one-line summary on rank 0.
RunSetup setup_run(const DeckArgs& args, const std::string& command);

int run_train(const DeckArgs& args);
// `train` with run.steps = 0: evaluates the (restarted) model and writes nothing.
int run_train_zero_steps(const RunSetup& setup);
int run_eval(const DeckArgs& args);
// Loads io.restart ("latest": the newest checkpoint in io.out_dir) into the session's
// parameters, weights only; returns "path (step N)" for the log.
std::string load_restart(const Config& cfg, ModelSession& session, const Mesh& mesh);

// What `eval` does (build the session, load io.restart, score the held-out sequences, print
// the `eval:` line); also the whole of `train` with run.steps = 0.
struct EvalResult {
  LossSums loss;
  double seconds = 0;
};
EvalResult evaluate_model(const RunSetup& setup);
int run_bench(const std::string& what, const DeckArgs& args, int reps);
int run_data(const std::vector<std::string>& args);
int run_ckpt(const std::string& action, const std::vector<std::string>& args);

}  // namespace zoptimus::app
