// Partitioned GEMMs of the linear layers (see parallel_linear.hpp).
#include "model/layers/parallel_linear.hpp"

#include "core/timer.hpp"
#include "linalg/gemm.hpp"

namespace zoptimus {

void ParallelLinear::matmul(ConstMatrix x, ConstMatrix W, Matrix y, LinearSplit split) {
  PhaseTimer t(phase::kGemm);
  if (ctx_.two_d()) {
    if (summa_ == SummaChoice::Auto)
      summa_ab(ctx_.comm, x, W, y, ws_);  // the variant that moves fewer bytes
    else
      summa_ab(
          ctx_.comm,
          summa_ == SummaChoice::Standard ? SummaVariant::Standard : SummaVariant::WeightStationary,
          x, W, y, ws_);
  } else {
    gemm(Trans::No, Trans::No, 1.0f, x, W, 0.0f, y);
    if (split == LinearSplit::Row) {
      ctx_.comm.allreduce_sum(Axis::Row, y.data(), y.size());
    }
  }
  times_.gemm += t.seconds();
  times_.gemm_flops += 2 * static_cast<std::int64_t>(x.extent(0)) * x.extent(1) * y.extent(1);
}

void ParallelLinear::matmul_transposed(ConstMatrix x, ConstMatrix E, Matrix y) {
  PhaseTimer t(phase::kGemm);
  if (ctx_.two_d())
    summa_abt(ctx_.comm, x, E, y, ws_);
  else
    gemm(Trans::No, Trans::Yes, 1.0f, x, E, 0.0f, y);
  times_.gemm += t.seconds();
  times_.gemm_flops += 2 * static_cast<std::int64_t>(x.extent(0)) * x.extent(1) * y.extent(1);
}

void ParallelLinear::forward(WeightSource& w, int weight_id, int bias_id, LinearSplit split,
                             std::optional<Activation> act, int n, const PerStream<Matrix>& x,
                             const PerStream<Matrix>& y) {
  const BlockPair W = w.blocks(weight_id);
  for (int s = 0; s < n; ++s) matmul(x[s], W[s], y[s], split);
  const BlockPair b = w.blocks(bias_id);
  for (int s = 0; s < n; ++s) {
    if (act)
      add_bias_activation(y[s], b[s], *act);
    else
      add_bias(y[s], b[s]);
  }
}

}  // namespace zoptimus
