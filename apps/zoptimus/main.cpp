// zoptimus: command-line entry point. Parses the subcommand, runs it, and turns every error
// into one message and a non-zero exit on every rank (docs/design.md).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "core/build_info.hpp"
#include "core/edit_distance.hpp"
#include "core/log.hpp"
#include "core/runtime.hpp"
#include "linalg/blas_handle.hpp"
#include "parallel/collective_guard.hpp"

namespace {

using zoptimus::app::DeckArgs;

void add_deck_args(CLI::App* cmd, DeckArgs& args) {
  cmd->add_option("deck", args.deck, "input deck (TOML), e.g. inputs/demo.toml")
      ->required()
      ->type_name("DECK.toml");
  cmd->add_option("overrides", args.overrides,
                  "key=value overrides with dotted keys, e.g. optim.lr=1e-6 parallel.dp=2")
      ->type_name("KEY=VALUE");
}

const char* const kSubcommands[] = {"train", "eval", "bench", "data", "ckpt"};

// CLI11 reports a misspelt subcommand as "A subcommand is required"; name it instead.
void check_subcommand(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;  // top-level flags take no values
    const std::vector<std::string> known(std::begin(kSubcommands), std::end(kSubcommands));
    if (std::find(known.begin(), known.end(), word) != known.end()) return;
    const std::string best = zoptimus::closest_word(word, known, 3);
    zoptimus::fail_on_all_ranks(
        MPI_COMM_WORLD,
        fmt::format("unknown subcommand '{}'{}; expected one of train, eval, bench, data, ckpt "
                    "(zoptimus --help)",
                    word, best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best)));
  }
}

int dispatch(int argc, char** argv) {
  CLI::App app{
      "zoptimus: zeroth-order fine-tuning of transformers on 2D (Optimus) and 1D "
      "(Megatron) MPI meshes",
      "zoptimus"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(zoptimus::build_info::kVersion) + " (git " +
                                        zoptimus::build_info::kGitHash + ")");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "print debug messages (rank 0)");
  bool list_keys = false;
  app.add_flag("--list-keys", list_keys, "print every input-deck key with its expected value");

  DeckArgs train_args, eval_args, bench_args;
  auto* train = app.add_subcommand("train", "fine-tune a model with a zeroth-order optimizer");
  add_deck_args(train, train_args);
  auto* eval = app.add_subcommand("eval", "evaluate loss (and accuracy) on a dataset");
  add_deck_args(eval, eval_args);

  std::string bench_what;
  auto* bench = app.add_subcommand("bench", "benchmarks: forward, zo, ckpt, gemm, mesh");
  bench->add_option("what", bench_what, "what to benchmark")
      ->required()
      ->check(CLI::IsMember({"forward", "zo", "gemm", "mesh", "ckpt"}));
  add_deck_args(bench, bench_args);
  int bench_reps = 5;
  bench->add_option("--reps", bench_reps, "timed repetitions")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));

  // `data` has its own option parser (cmd_data.cpp): everything after the word, --help
  // included, is handed over untouched.
  auto* data = app.add_subcommand(
      "data", "build an HDF5 token dataset from text, TSV or token files (data --help)");
  data->prefix_command();
  data->set_help_flag();

  std::string ckpt_action;
  std::vector<std::string> ckpt_args;
  auto* ckpt = app.add_subcommand("ckpt", "inspect or replay checkpoints: info, replay");
  ckpt->add_option("action", ckpt_action, "info or replay")
      ->required()
      ->check(CLI::IsMember({"info", "replay"}));
  // Everything after the action is handed over in order (replay parses its own options).
  ckpt->allow_extras();
  ckpt->footer(
      "  zoptimus ckpt info [--verify] FILE.h5\n"
      "  zoptimus ckpt replay RUN_LOG.h5 --out FINAL.h5 [--base BASE.h5]");

  // --list-keys needs no subcommand.
  if (argc == 2 && std::string(argv[1]) == "--list-keys") {
    zoptimus::log::info("input deck keys (section.key, expected value):\n{}",
                        zoptimus::describe_deck_keys());
    return 0;
  }

  check_subcommand(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parsed the same arguments; only rank 0 prints.
    if (zoptimus::log::rank() == 0) return app.exit(e);
    return e.get_exit_code();
  }
  zoptimus::log::set_verbose(verbose);

  if (*train) return zoptimus::app::run_train(train_args);
  if (*eval) return zoptimus::app::run_eval(eval_args);
  if (*bench) return zoptimus::app::run_bench(bench_what, bench_args, bench_reps);
  if (*data) return zoptimus::app::run_data(data->remaining());
  if (*ckpt) {
    ckpt_args = ckpt->remaining();
    return zoptimus::app::run_ckpt(ckpt_action, ckpt_args);
  }
  return 1;
}

// Kokkos prints its own ~40 lines of options whenever it sees --help. Hide --help/-h from it
// (zoptimus prints its own usage) and leave Kokkos's list to --kokkos-help.
char kHiddenHelp[] = "--zoptimus-help-hidden-from-kokkos";
char kHiddenShortHelp[] = "-zoptimus-h-hidden-from-kokkos";

std::vector<char*> hide_help_from_kokkos(int argc, char** argv, bool& kokkos_help) {
  std::vector<char*> args(argv, argv + argc);
  for (char*& a : args) {
    const std::string word = a;
    if (word == "--help") a = kHiddenHelp;
    if (word == "-h") a = kHiddenShortHelp;
    if (word == "--kokkos-help") kokkos_help = true;
  }
  args.push_back(nullptr);
  return args;
}

void restore_help(int argc, char** argv) {
  static char help[] = "--help", short_help[] = "-h";
  for (int i = 0; i < argc; ++i) {
    if (argv[i] == kHiddenHelp) argv[i] = help;
    if (argv[i] == kHiddenShortHelp) argv[i] = short_help;
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool kokkos_help = false;
  std::vector<char*> args = hide_help_from_kokkos(argc, argv, kokkos_help);
  argv = args.data();
  zoptimus::Runtime runtime(argc, argv);
  zoptimus::attach_blas(runtime.device());
  restore_help(argc, argv);
  if (kokkos_help) return 0;  // Kokkos has printed its options
  int rc = 0;
  try {
    rc = dispatch(argc, argv);
  } catch (const zoptimus::AgreedError& e) {
    // Every rank holds the same message; print it once.
    if (runtime.world_rank() == 0) {
      if (e.all_ranks_failed())
        std::fprintf(stderr, "zoptimus: error: %s\n", e.what());
      else
        std::fprintf(stderr, "zoptimus: error on rank %d (%d of %d ranks failed): %s\n",
                     e.first_failing_rank(), e.failing_ranks(), runtime.world_size(), e.what());
    }
    rc = 1;
  } catch (const std::exception& e) {
    // Only this rank knows; the others may be inside a collective, so abort the job.
    std::fprintf(stderr, "zoptimus: error on rank %d: %s\n", runtime.world_rank(), e.what());
    std::fflush(stderr);
    // Give the launcher time to forward the message before its MPI_ABORT banner.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  return rc;
}
