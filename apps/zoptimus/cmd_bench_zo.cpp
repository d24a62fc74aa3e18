// `zoptimus bench zo DECK`: time of one ZO step against two plain forward passes measured in
// the same run (the dual-stream step's target is <= 1.05-1.10x), with the step split into
// forward compute (GEMM / other), perturbation + fused update generation, and communication.
#include <mpi.h>

#include "bench_support.hpp"
#include "commands.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "optim/zo_optimizer.hpp"

namespace zoptimus::app {

int bench_zo(const RunSetup& setup, int reps) {
  const Config& cfg = setup.config;
  ModelSession session(cfg, *setup.mesh);
  Transformer& model = session.model();
  StoredWeights plain(model.params());
  const Batch batch = session.batches().train_batch(0);

  // Two plain forwards + loss, as MeZO's reference implementation would run them.
  session.loss(batch, plain);  // warm-up
  MPI_Barrier(MPI_COMM_WORLD);
  Timer t_fwd;
  for (int r = 0; r < reps; ++r) session.loss(batch, plain);
  const double forward = max_over_ranks(t_fwd.seconds()) / reps;

  ZoOptimizer opt(cfg, session);
  opt.step(0);  // warm-up (allocates the second stream and scratch)
  model.reset_times();
  session.stats().reset();
  const double gen_before = opt.weights().generate_seconds();
  MPI_Barrier(MPI_COMM_WORLD);
  Timer t_step;
  for (int r = 0; r < reps; ++r) opt.step(1 + r);
  const double step = max_over_ranks(t_step.seconds()) / reps;
  opt.flush();

  const double per = 1.0 / reps;
  const double gemm = max_over_ranks(model.times().gemm * per);
  const double gen = max_over_ranks((opt.weights().generate_seconds() - gen_before) * per);
  const double comm = max_over_ranks(session.stats().total_seconds() * per);
  log::info("bench_zo mesh=\"{}\" method={} n_perturb={} reps={}", setup.mesh->shape().describe(),
            cfg.optim.method, cfg.optim.n_perturb, reps);
  log::info("forward_ms={:.3f}", forward * 1e3);
  log::info("step_ms={:.3f}", step * 1e3);
  log::info("step_over_2_forward={:.3f}", step / (2.0 * forward * cfg.optim.n_perturb));
  log::info("step_gemm_ms={:.3f}", gemm * 1e3);
  log::info("step_perturb_update_ms={:.3f}", gen * 1e3);
  log::info("step_comm_ms={:.3f}", comm * 1e3);
  log::info("step_other_ms={:.3f}", (step - gemm - gen) * 1e3);
  return 0;
}

}  // namespace zoptimus::app
