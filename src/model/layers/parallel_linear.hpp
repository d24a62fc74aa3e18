// The partitioned GEMM of every linear layer and LM head: SUMMA on the 2D mesh (variant by
// moved bytes, or forced), a local GEMM on the 1D mesh with an allreduce for row-parallel
// weights. Owns the SUMMA communication panels, shared by all layers.
#pragma once

#include <cstdint>
#include <optional>

#include "core/choices.hpp"
#include "core/types.hpp"
#include "kernels/elementwise.hpp"
#include "linalg/summa.hpp"
#include "model/layers/forward_times.hpp"
#include "model/layers/layer_context.hpp"

namespace zoptimus {

// How a weight is split on the 1D (Megatron) mesh. On the 2D mesh every weight is split both
// ways and the product is a SUMMA whatever this says.
enum class LinearSplit {
  Column,  // by output columns: the output stays split, no communication
  Row,     // by input rows: the partial products are allreduced along the row
};

class ParallelLinear {
 public:
  // times: where the GEMM seconds and flops are accumulated (the owner's forward times).
  ParallelLinear(LayerContext ctx, SummaChoice summa, ForwardTimes& times)
      : ctx_(ctx), summa_(summa), times_(times) {}

  // y = x W, W stored [in, out].
  void matmul(ConstMatrix x, ConstMatrix w, Matrix y, LinearSplit split);
  // y = x E^T, E stored [out, in] (an LM head against a [V, h] table).
  void matmul_transposed(ConstMatrix x, ConstMatrix e, Matrix y);
  // The same in chunks of chunk.extent(0) rows of x: each chunk of y is formed in `chunk`
  // and handed to consume (summa_abt_row_chunks), so y is never held whole. The time spent
  // in consume is not counted as GEMM time.
  void matmul_transposed_chunked(ConstMatrix x, ConstMatrix e, Matrix chunk,
                                 const RowChunkConsumer& consume);

  // The first n streams through one linear layer: y_s = act(x_s W_s + b_s) (no activation
  // when act is empty). The weight is fetched and applied to every stream before the bias.
  void forward(WeightSource& w, int weight_id, int bias_id, LinearSplit split,
               std::optional<Activation> act, int n, const PerStream<Matrix>& x,
               const PerStream<Matrix>& y);

  std::int64_t comm_buffer_bytes() const { return static_cast<std::int64_t>(ws_.bytes()); }

 private:
  LayerContext ctx_;
  SummaChoice summa_;
  ForwardTimes& times_;
  SummaWorkspace ws_;
};

}  // namespace zoptimus
