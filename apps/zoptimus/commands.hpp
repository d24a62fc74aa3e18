// The subcommands of the zoptimus binary and the options they share.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "parallel/mesh.hpp"

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
int run_eval(const DeckArgs& args);
int run_bench(const std::string& what, const DeckArgs& args, int reps);
int run_data(const std::vector<std::string>& args);
int run_ckpt(const std::string& action, const std::vector<std::string>& args);

}  // namespace zoptimus::app
