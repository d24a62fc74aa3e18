// Partitioned GEMMs of the linear layers (see parallel_linear.hpp).
#include "model/layers/parallel_linear.hpp"

#include <algorithm>

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

void ParallelLinear::matmul_transposed_chunked(ConstMatrix x, ConstMatrix E, Matrix chunk,
                                               const RowChunkConsumer& consume) {
  PhaseTimer t(phase::kGemm);
  double consumed = 0;
  const RowChunkConsumer timed = [&](int first_row, ConstMatrix rows) {
    ScopedTimer c(consumed);
    consume(first_row, rows);
  };
  if (ctx_.two_d()) {
    summa_abt_row_chunks(ctx_.comm, x, E, chunk, ws_, timed);
  } else {
    const int tokens = static_cast<int>(x.extent(0)), cap = static_cast<int>(chunk.extent(0));
    const int k = static_cast<int>(x.extent(1)), n = static_cast<int>(chunk.extent(1));
    for (int r0 = 0; r0 < tokens; r0 += cap) {
      const int rows = std::min(cap, tokens - r0);
      const Matrix dst(chunk.data(), rows, n);
      gemm(Trans::No, Trans::Yes, 1.0f, ConstMatrix(x.data() + std::size_t(r0) * k, rows, k), E,
           0.0f, dst);
      timed(r0, dst);
    }
  }
  times_.gemm += t.seconds() - consumed;
  times_.gemm_flops += 2 * static_cast<std::int64_t>(x.extent(0)) * x.extent(1) * chunk.extent(1);
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
