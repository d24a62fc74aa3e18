// `zoptimus train DECK`: zeroth-order fine-tuning. The last line is machine-readable:
// `train: steps=<n> loss=<first>-><last> eval_loss=<float> time_s=<float>`.
#include "commands.hpp"
#include "core/log.hpp"
#include "train/trainer.hpp"

namespace zoptimus::app {

int run_train(const DeckArgs& args) {
  RunSetup setup = setup_run(args, "train");
  const Config& cfg = setup.config;
  ModelSession session(cfg, *setup.mesh);
  log::info("data: {}", session.batches().describe());
  log::info(
      "model: {} parameters, {:.2f} MiB on this rank; optimizer {} (lr {}, eps {}, "
      "n_perturb {})",
      session.model().params().global_count(), session.model().params().local_bytes() / 1048576.0,
      cfg.optim.method, cfg.optim.lr, cfg.optim.eps, cfg.optim.n_perturb);
  Trainer trainer(cfg, session);
  const TrainSummary s = trainer.run();
  if (s.skipped > 0) log::info("{} of {} steps skipped (non-finite loss)", s.skipped, s.steps);
  if (cfg.data.task == "classification")
    log::info(
        "train: steps={} loss={:.6f}->{:.6f} eval_loss={:.6f} eval_accuracy={:.4f} "
        "time_s={:.3f}",
        s.steps, s.first_loss, s.last_loss, s.eval_loss, s.eval_accuracy, s.seconds);
  else
    log::info("train: steps={} loss={:.6f}->{:.6f} eval_loss={:.6f} time_s={:.3f}", s.steps,
              s.first_loss, s.last_loss, s.eval_loss, s.seconds);
  return 0;
}

}  // namespace zoptimus::app
