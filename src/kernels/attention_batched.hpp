// Causal attention for device memory at GEMM speed: per head and query tile, the scores of
// every sequence's tile against its causal keys are one strided-batched GEMM (Q K^T over the
// sequences of the batch), a team kernel turns each score row into causal softmax weights in
// place, and a second strided-batched GEMM accumulates P V into the output. Memory: one
// [batch, query tile, seq] score buffer, owned by the DeviceContext and reused across calls.
// Runs on host memory as well (the GEMMs become CBLAS loops), which is how it is tested.
#pragma once

#include "core/types.hpp"

namespace zoptimus {

inline constexpr int kBatchedAttentionQueryTile = 256;

// Same layout and result as causal_attention (attention.hpp). query_tile > 0.
void causal_attention_batched(ConstMatrix qkv, int batch, int seq, int heads, int head_dim,
                              Matrix out, int query_tile = kBatchedAttentionQueryTile);

}  // namespace zoptimus
