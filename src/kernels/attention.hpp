// Causal multi-head attention core on local heads: softmax(q k^T / sqrt(dh), causal) v.
// Sequences are never split, so this needs no communication in either mesh mode.
#pragma once

#include "core/types.hpp"

namespace zoptimus {

// qkv: [batch * seq, heads * 3 * head_dim], columns interleaved per head (q, k, v of head 0,
// then of head 1, ...). out: [batch * seq, heads * head_dim], head j in columns
// [j * head_dim, (j + 1) * head_dim). Rows are sequence-major: row = b * seq + position.
void causal_attention(ConstMatrix qkv, int batch, int seq, int heads, int head_dim, Matrix out);

}  // namespace zoptimus
