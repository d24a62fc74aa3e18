// `zoptimus bench zo DECK`: time of one ZO step against two plain forward passes measured in
// the same run (the dual-stream step's target is <= 1.05-1.10x), with the step split into
// forward compute (GEMM / other), perturbation + fused update generation, and communication.
//
// Each repetition times, back to back, two plain forwards, one dual-stream forward without
// ZO work, and one ZO step; the reported ratio is the median of the per-repetition ratios,
// so drift in the machine's speed (shared nodes, turbo) cancels instead of favouring
// whichever phase ran in the quiet moment.
//
// With optim.offload the reference forwards stream the layers through the same ring, and the
// bytes each step uploads and writes back are reported (run the deck with offload on and off
// to compare step times).
#include <mpi.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "bench_support.hpp"
#include "commands.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "core/workspace_registry.hpp"
#include "model/offload/offloaded_weights.hpp"
#include "optim/zo_optimizer.hpp"
#include "train/model_session.hpp"

namespace zoptimus::app {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds fn takes on the slowest rank.
template <class Fn>
double timed(Fn&& fn) {
  MPI_Barrier(MPI_COMM_WORLD);
  Timer timer;
  fn();
  return max_over_ranks(timer.seconds());
}

}  // namespace

int bench_zo(const RunSetup& setup, int reps) {
  const Config& cfg = setup.config;
  ModelSession session(cfg, *setup.mesh);
  Transformer& model = session.model();
  StoredWeights stored_plain(model.params());
  StoredWeights stored_both(model.params(), 2);  // two streams, same weights: the step minus ZO
  OffloadPipeline* off = session.offload();
  std::unique_ptr<OffloadedWeights> off_plain, off_both;
  if (off) {
    off_plain = std::make_unique<OffloadedWeights>(stored_plain, *off, model.params());
    off_both = std::make_unique<OffloadedWeights>(stored_both, *off, model.params());
  }
  WeightSource& plain = off ? static_cast<WeightSource&>(*off_plain) : stored_plain;
  WeightSource& both = off ? static_cast<WeightSource&>(*off_both) : stored_both;
  const Batch batch = session.batches().train_batch(0);

  ZoOptimizer opt = make_zo_optimizer(cfg, session);
  // Warm-up: allocates the second stream, the scratch buffers and the logits.
  session.loss(batch, plain);
  session.losses({&batch, &batch}, both);
  zo_train_step(opt, session, 0);

  std::vector<double> forward2, dual, step, ratio;
  double gemm = 0, gen = 0, comm = 0;
  std::int64_t up_bytes = 0, back_bytes = 0;
  for (int r = 0; r < reps; ++r) {
    // Two plain forwards + loss, as MeZO's reference implementation would run them.
    forward2.push_back(timed([&] {
      session.loss(batch, plain);
      session.loss(batch, plain);
    }));
    dual.push_back(timed([&] { session.losses({&batch, &batch}, both); }));
    model.reset_times();
    session.stats().reset();
    const double gen_before = opt.weights().generate_seconds();
    const OffloadCounters c0 = off ? off->counters() : OffloadCounters{};
    step.push_back(timed([&] { zo_train_step(opt, session, 1 + r); }));
    if (off) {
      up_bytes += off->counters().upload_bytes - c0.upload_bytes;
      back_bytes += off->counters().writeback_bytes - c0.writeback_bytes;
    }
    gemm += max_over_ranks(model.times().gemm);
    gen += max_over_ranks(opt.weights().generate_seconds() - gen_before);
    comm += max_over_ranks(session.stats().total_seconds());
    ratio.push_back(step.back() / (forward2.back() * cfg.optim.n_perturb));
  }
  opt.flush();

  const double per = 1.0 / reps, step_ms = median(step) * 1e3;
  log::info(
      "bench_zo mesh=\"{}\" method={} perturbation={} n_perturb={} reps={} (medians over reps)",
      setup.mesh->shape().describe(), choice_name(cfg.optim.method),
      choice_name(cfg.optim.perturbation), cfg.optim.n_perturb, reps);
  log::info("forward_ms={:.3f}", median(forward2) * 0.5e3);
  log::info("dual_stream_forward_ms={:.3f}", median(dual) * 1e3);
  log::info("step_ms={:.3f}", step_ms);
  log::info("step_over_2_forward={:.3f}", median(ratio));
  log::info("step_over_2_forward_min_max={:.3f},{:.3f}",
            *std::min_element(ratio.begin(), ratio.end()),
            *std::max_element(ratio.begin(), ratio.end()));
  log::info("step_gemm_ms={:.3f} (mean)", gemm * per * 1e3);
  log::info("step_perturb_update_ms={:.3f} (mean)", gen * per * 1e3);
  log::info("step_comm_ms={:.3f} (mean)", comm * per * 1e3);
  const WorkspaceRegistry& ws = WorkspaceRegistry::process();
  log::info("device_peak_bytes={}", ws.peak_total());
  if (off) {
    log::info("offload_slots={} offload_slot_ring_bytes={} offload_host_param_bytes={}",
              off->ring().slots(), ws.peak(WorkspacePurpose::OffloadSlots),
              ws.current(WorkspacePurpose::Parameters, MemoryPlace::Host));
    log::info("offload_upload_bytes_per_step={:.0f} (mean)", double(up_bytes) * per);
    log::info("offload_writeback_bytes_per_step={:.0f} (mean)", double(back_bytes) * per);
  }
  return 0;
}

}  // namespace zoptimus::app
