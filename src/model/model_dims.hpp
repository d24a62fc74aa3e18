// Model dimensions derived from the deck and the parameter table of an OPT decoder,
// partitioned for a 2D (Optimus) or 1D (Megatron) mesh.
#pragma once

#include "core/config.hpp"
#include "kernels/elementwise.hpp"
#include "model/parameter_store.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

struct ModelDims {
  int vocab = 0, hidden = 0, heads = 0, layers = 0, ffn = 0, max_positions = 0;
  int head_dim = 0;
  Activation activation = Activation::Relu;
  double layernorm_eps = 1e-5;
  int logits_chunk_tokens = 256;  // tokens per LM-head chunk (ModelConfig)

  static ModelDims from_config(const ModelConfig& m);
};

// The model family this decoder implements; checkpoints record it in /model (files written
// before the attribute existed are this family).
inline constexpr const char* kModelFamily = "opt";

// OPT's learned positions are stored with an offset of 2 rows.
inline constexpr int kPositionOffset = 2;

// Builds the parameter table (canonical names, global shapes, and this rank's blocks):
//   2D: weights [in, out] split rows by mesh row and columns by mesh column; biases and
//       LayerNorm split by column; embed_tokens [V, h] by (row, column); positions by column.
//   1D: qkv/fc1 column-parallel, out/fc2 row-parallel, embed_tokens split by vocabulary,
//       everything else replicated.
// The QKV columns are interleaved per head (q, k, v of head 0, then head 1, ...), so a
// column block holds whole heads. `placement`: where the decoder layers' blocks live
// (ParameterPlacement::HostBlocks for offloading).
ParameterStore build_opt_parameters(const ModelDims& dims, const MeshShape& shape,
                                    const MeshCoords& coords,
                                    ParameterPlacement placement = ParameterPlacement::Device);

}  // namespace zoptimus
