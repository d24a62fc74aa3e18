// `zoptimus bench forward DECK`: forward passes of the partitioned model with the deck's loss
// (LM: the chunked LM head and cross-entropy; classification: the label-word head). Reports
// tokens/s, the GEMM rate inside the forward (SUMMA waits included) against a bare sgemm of
// the same local shapes timed in the same run, the non-GEMM time by kernel, memory and
// communication per rank per forward. With io.restart = CKPT the weights come from that checkpoint,
// and the loss of the batch is printed (scripts/bench_matrix checks PyTorch against it).
#include <mpi.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_support.hpp"
#include "commands.hpp"
#include "core/log.hpp"
#include "core/memory.hpp"
#include "core/timer.hpp"
#include "core/workspace_registry.hpp"
#include "io/checkpoint.hpp"
#include "kernels/kernel_times.hpp"
#include "linalg/blas_kernel.hpp"
#include "linalg/gemm.hpp"
#include "train/model_session.hpp"

namespace zoptimus::app {

namespace {

struct Shape {
  int m, k, n;
  bool bt;  // B transposed (LM head)
};

// GFLOP/s of cblas sgemm on the local shapes one forward executes on this rank.
double bare_sgemm_gflops(const std::vector<Shape>& shapes, int reps) {
  double flops = 0, seconds = 0;
  for (const auto& s : shapes) {
    Matrix a("a", s.m, s.k), b("b", s.bt ? s.n : s.k, s.bt ? s.k : s.n), c("c", s.m, s.n);
    Kokkos::deep_copy(a, 0.5f);
    Kokkos::deep_copy(b, 0.25f);
    gemm(Trans::No, s.bt ? Trans::Yes : Trans::No, 1.0f, a, b, 0.0f, c);  // warm-up
    Timer t;
    for (int r = 0; r < reps; ++r)
      gemm(Trans::No, s.bt ? Trans::Yes : Trans::No, 1.0f, a, b, 0.0f, c);
    seconds += t.seconds();
    flops += 2.0 * s.m * s.k * s.n * reps;
  }
  return flops / seconds / 1e9;
}

}  // namespace

int bench_forward(const RunSetup& setup, int reps) {
  const Config& cfg = setup.config;
  ModelSession session(cfg, *setup.mesh);
  Transformer& model = session.model();
  if (!cfg.io.restart.empty()) read_checkpoint(cfg.io.restart, model.params(), *setup.mesh, cfg);
  StoredWeights weights(model.params());
  const Batch batch = session.batches().train_batch(0);
  // Warm-up (first touch of buffers and communicators), and the loss printed below.
  const LossSums loss = session.loss(batch, weights);
  auto one_forward = [&] { session.loss(batch, weights); };
  model.reset_times();
  session.stats().reset();
  reset_kernel_seconds();
  MPI_Barrier(MPI_COMM_WORLD);
  Timer timer;
  for (int r = 0; r < reps; ++r) one_forward();
  const double seconds = max_over_ranks(timer.seconds()) / reps;
  const ForwardTimes& ft = model.times();
  std::array<double, kKernelKinds> kernel_ms{};
  for (int k = 0; k < kKernelKinds; ++k)
    kernel_ms[k] = max_over_ranks(kernel_seconds()[k]) / reps * 1e3;
  const double gemm_gflops = ft.gemm_flops / ft.gemm / 1e9;

  // Peak RSS of the model and its forward, before the bare GEMMs allocate their operands.
  const double rss = max_over_ranks(static_cast<double>(peak_rss_bytes()));

  // The same local GEMM shapes, bare.
  const ModelDims& d = model.dims();
  const int T = model.local_tokens();
  const bool two_d = setup.mesh->shape().mode == MeshMode::TwoD;
  const int c = setup.mesh->cols();
  const int h_in = two_d ? d.hidden / c : d.hidden;
  std::vector<Shape> shapes;
  for (int l = 0; l < d.layers; ++l) {
    shapes.push_back({T, h_in, 3 * d.hidden / c, false});
    shapes.push_back({T, d.hidden / c, two_d ? d.hidden / c : d.hidden, false});
    shapes.push_back({T, h_in, d.ffn / c, false});
    shapes.push_back({T, d.ffn / c, two_d ? d.hidden / c : d.hidden, false});
  }
  if (cfg.data.task == Task::Lm) {  // the head, one GEMM per chunk of tokens
    const int chunk = model.logits_chunk_rows();
    const int vocab_loc = static_cast<int>(model.params().info("embed_tokens").local_rows());
    for (int r0 = 0; r0 < T; r0 += chunk)
      shapes.push_back({std::min(chunk, T - r0), h_in, vocab_loc, true});
  }
  const double bare = bare_sgemm_gflops(shapes, reps);
  const double ratio = gemm_gflops / bare;

  const double tokens =
      static_cast<double>(cfg.data.batch) * cfg.data.seq_len * setup.mesh->shape().dp;
  const double sent = max_over_ranks(static_cast<double>(session.stats().total_sent()) / reps);
  const double recv = max_over_ranks(static_cast<double>(session.stats().total_recv()) / reps);
  const WorkspaceRegistry& ws = WorkspaceRegistry::process();
  const double act = max_over_ranks(double(ws.current(WorkspacePurpose::Activations)));
  const double panels = max_over_ranks(double(ws.current(WorkspacePurpose::SummaPanels)));
  const double par = max_over_ranks(double(ws.current(WorkspacePurpose::Parameters)));
  log::info("bench_forward mesh=\"{}\" tokens={:.0f} reps={}", setup.mesh->shape().describe(),
            tokens, reps);
  log::info("forward_ms={:.3f}", seconds * 1e3);
  log::info("tokens_per_s={:.1f}", tokens / seconds);
  log::info("gemm_gflops={:.3f}", gemm_gflops);
  log::info("bare_sgemm_gflops={:.3f}", bare);
  log::info("blas_kernel={}", blas_kernel_name());
  log::info("gemm_ratio={:.3f}", ratio);
  log::info("gemm_fraction_of_forward={:.3f}", ft.gemm / reps / seconds);
  // The non-GEMM kernels of the forward and the loss.
  std::string by_kernel;
  double kernels_total = 0;
  for (int k = 0; k < kKernelKinds; ++k) {
    by_kernel +=
        fmt::format(" {}={:.3f}", kernel_kind_name(static_cast<KernelKind>(k)), kernel_ms[k]);
    kernels_total += kernel_ms[k];
  }
  log::info("non_gemm_ms_by_kernel{} untimed={:.3f}", by_kernel,
            std::max(0.0, seconds * 1e3 - ft.gemm / reps * 1e3 - kernels_total));
  log::info("loss={:.6f}", loss.mean());
  log::info("activation_bytes_per_rank_max={:.0f}", act);
  log::info("summa_panel_bytes_per_rank_max={:.0f}", panels);
  log::info("param_bytes_per_rank_max={:.0f}", par);
  // What an inference pass at this batch holds besides the parameters: the activation
  // buffers of one layer (the model reuses them for every layer: x, h, tmp, final, qkv,
  // attn, ffn, the embedding partial, LayerNorm and cross-entropy per-token values) and the
  // LM head's logits chunk [chunk, local vocab] (0 for classification). Their sum is the
  // registry's activation figure; peak RSS is compared against params + both + panels.
  const double logits_bytes = max_over_ranks(double(model.logits_chunk_bytes()));
  const double layer_act =
      max_over_ranks(double(model.activation_bytes() - model.logits_chunk_bytes()));
  log::info("one_layer_activation_bytes={:.0f} logits_bytes={:.0f} logits_chunk_tokens={}",
            layer_act, logits_bytes, model.logits_chunk_rows());
  log::info("peak_rss_bytes_per_rank_max={:.0f}", rss);
  log::info("params_plus_activations_plus_panels_bytes_per_rank_max={:.0f}",
            max_over_ranks(double(ws.current(WorkspacePurpose::Parameters) +
                                  ws.current(WorkspacePurpose::Activations) +
                                  ws.current(WorkspacePurpose::SummaPanels))));
  log::info("comm_bytes_sent_per_rank_per_forward_max={:.0f}", sent);
  log::info("comm_bytes_recv_per_rank_per_forward_max={:.0f}", recv);
  return 0;
}

}  // namespace zoptimus::app
