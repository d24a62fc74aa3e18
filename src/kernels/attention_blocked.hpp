// Causal attention on host memory at GEMM speed: per (sequence, head), per query tile, the
// scores of one key tile are a GEMM (Q K^T), the causal softmax runs online over the key
// tiles (running max and sum, as flash attention does), and the weighted sum of values is a
// second GEMM accumulated into the output. Key tiles entirely above the diagonal are never
// computed; memory is one [query tile, key tile] score block per thread.
#pragma once

namespace zoptimus {

// Tile sizes of the host path (a query tile's scores against one key tile).
inline constexpr int kAttentionQueryTile = 128;
inline constexpr int kAttentionKeyTile = 256;

// Same layout as causal_attention (attention.hpp), as raw row-major host pointers:
// qkv rows have stride ld_qkv, out rows stride ld_out. query_tile / key_tile > 0.
void causal_attention_blocked(const float* qkv, int ld_qkv, int batch, int seq, int heads,
                              int head_dim, float* out, int ld_out,
                              int query_tile = kAttentionQueryTile,
                              int key_tile = kAttentionKeyTile);

}  // namespace zoptimus
