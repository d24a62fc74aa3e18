// `zoptimus train DECK run.steps=0 [io.restart=CKPT]`: nothing to train, so the run is the
// evaluation of the starting model (the zero-shot score of an imported checkpoint). It loads
// the weights as `eval` does, scores the same held-out sequences, prints eval's line and the
// train summary line with steps=0, and writes nothing (no io.out_dir, run log or checkpoint).
#include <fmt/format.h>

#include "commands.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "train/model_session.hpp"

namespace zoptimus::app {

int run_train_zero_steps(const RunSetup& setup) {
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
  log::info("run.steps = 0: evaluation only, nothing is written");
  Timer timer;
  const LossSums loss = session.evaluate();
  const double seconds = timer.seconds();
  if (cfg.data.task == Task::Classification) {
    log::info("eval: loss={:.6f} sequences={:.0f} accuracy={:.4f} time_s={:.3f}", loss.mean(),
              loss.count, loss.accuracy(), seconds);
    log::info("train: steps=0 eval_loss={:.6f} eval_accuracy={:.4f} time_s={:.3f}", loss.mean(),
              loss.accuracy(), seconds);
  } else {
    log::info("eval: loss={:.6f} tokens={:.0f} time_s={:.3f}", loss.mean(), loss.count, seconds);
    log::info("train: steps=0 eval_loss={:.6f} time_s={:.3f}", loss.mean(), seconds);
  }
  return 0;
}

}  // namespace zoptimus::app
