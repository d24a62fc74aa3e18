// `zoptimus eval DECK [io.restart=CKPT]`: loss (and accuracy for classification) of the model
// on the held-out sequences (the whole validation split of a dataset, or run.eval_sequences
// of it; data.eval_split = "test" scores /test), identical on every mesh. With io.restart the
// weights come from that checkpoint ("latest": the newest in io.out_dir), read onto any mesh
// as train does; otherwise the model is the deck's initialisation. The last line is
// machine-readable: `eval: loss=<float> tokens=<int> ...`.
#include <mpi.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "io/checkpoint.hpp"
#include "parallel/broadcast_string.hpp"
#include "parallel/collective_guard.hpp"
#include "train/model_session.hpp"

namespace zoptimus::app {

// Loads io.restart into the session's parameters; returns "path (step N)" for the log.
std::string load_restart(const Config& cfg, ModelSession& session, const Mesh& mesh) {
  std::string path = cfg.io.restart;
  if (path == "latest") {
    // Rank 0 lists the directory and tells the others, so all read the same file.
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    path = rank == 0 ? CheckpointSeries(cfg.io.out_dir, cfg.io.keep).latest() : std::string();
    broadcast_string(path, 0, MPI_COMM_WORLD);
    if (path.empty())
      fail_on_all_ranks(
          MPI_COMM_WORLD,
          fmt::format("io.restart = \"latest\" but {} holds no checkpoint (ckpt_<step>.h5)",
                      cfg.io.out_dir));
  }
  // Only the weights: optimizer state (momentum) in the file is not needed to evaluate.
  const CheckpointState st = read_checkpoint(path, session.model().params(), mesh, cfg);
  return fmt::format("{} (step {})", path, st.step);
}

EvalResult evaluate_model(const RunSetup& setup) {
  const Config& cfg = setup.config;
  ModelSession session(cfg, *setup.mesh);
  log::info("data: {}", session.batches().describe());
  log::info("model: {} parameters, {:.2f} MiB on this rank",
            session.model().params().global_count(),
            session.model().params().local_bytes() / 1048576.0);
  if (!cfg.io.restart.empty())
    log::info("weights: {}", load_restart(cfg, session, *setup.mesh));
  else
    log::info("weights: initialised from model.seed = {} (no io.restart)", cfg.model.seed);
  Timer timer;
  EvalResult r{session.evaluate(), 0.0};
  r.seconds = timer.seconds();
  if (cfg.data.task == Task::Classification)
    log::info("eval: loss={:.6f} sequences={:.0f} accuracy={:.4f} time_s={:.3f}", r.loss.mean(),
              r.loss.count, r.loss.accuracy(), r.seconds);
  else
    log::info("eval: loss={:.6f} tokens={:.0f} time_s={:.3f}", r.loss.mean(), r.loss.count,
              r.seconds);
  return r;
}

int run_eval(const DeckArgs& args) {
  evaluate_model(setup_run(args, "eval"));
  return 0;
}

}  // namespace zoptimus::app
