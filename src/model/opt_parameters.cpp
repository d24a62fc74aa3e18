// The OPT parameter table and its 2D / 1D partition (see model_dims.hpp).
#include <fmt/format.h>

#include "model/model_dims.hpp"

namespace zoptimus {

ModelDims ModelDims::from_config(const ModelConfig& m) {
  ModelDims d;
  d.vocab = m.vocab;
  d.hidden = m.hidden;
  d.heads = m.heads;
  d.layers = m.layers;
  d.ffn = m.ffn;
  d.max_positions = m.max_positions;
  d.head_dim = m.hidden / m.heads;
  d.activation = m.activation;
  d.layernorm_eps = m.layernorm_eps;
  d.logits_chunk_tokens = m.logits_chunk_tokens;
  return d;
}

namespace {

// How a tensor's axes map onto the mesh.
enum class Part { Replicated, ByRow, ByCol };

struct Builder {
  ParameterStore& store;
  const MeshShape& shape;
  const MeshCoords& at;

  // This rank writes its block when it is the first holder of it: replica 0 and pp rank 0, and
  // index 0 on every mesh axis that neither of the tensor's axes is split over.
  bool owns(Part row_part, Part col_part) const {
    const bool uses_row = row_part == Part::ByRow || col_part == Part::ByRow;
    const bool uses_col = row_part == Part::ByCol || col_part == Part::ByCol;
    return at.replica == 0 && at.pp_rank == 0 && (uses_row || at.row == 0) &&
           (uses_col || at.col == 0);
  }
  AxisSplit split(Part p) const {
    if (p == Part::ByRow) return {shape.rows(), at.row};
    if (p == Part::ByCol) return {shape.cols(), at.col};
    return {};
  }
  void matrix(std::string name, int layer, std::int64_t rows, std::int64_t cols, Part row_part,
              Part col_part) {
    TensorInfo t;
    t.name = std::move(name);
    t.layer = layer;
    t.rows = rows;
    t.cols = cols;
    t.row_split = split(row_part);
    t.col_split = split(col_part);
    t.owns_block = owns(row_part, col_part);
    store.add(t);
  }
  void vector(std::string name, int layer, std::int64_t n, Part part, InitKind init) {
    TensorInfo t;
    t.name = std::move(name);
    t.layer = layer;
    t.cols = n;
    t.is_vector = true;
    t.col_split = split(part);
    t.owns_block = owns(Part::Replicated, part);
    t.init = init;
    t.weight_decay = false;
    store.add(t);
  }
};

}  // namespace

ParameterStore build_opt_parameters(const ModelDims& d, const MeshShape& shape,
                                    const MeshCoords& coords, ParameterPlacement placement) {
  ParameterStore store(WorkspacePurpose::Parameters, placement);
  Builder b{store, shape, coords};
  const bool two_d = shape.mode == MeshMode::TwoD;
  const Part R = Part::Replicated, Row = Part::ByRow, Col = Part::ByCol;
  // In 1D the tensor-parallel rank is the mesh column (a 1 x t grid).
  const Part hid = two_d ? Col : R;  // how a hidden-sized vector or axis is split

  if (two_d)
    b.matrix("embed_tokens", -1, d.vocab, d.hidden, Row, Col);
  else
    b.matrix("embed_tokens", -1, d.vocab, d.hidden, Col, R);
  b.matrix("embed_positions", -1, d.max_positions + kPositionOffset, d.hidden, R, hid);

  for (int l = 0; l < d.layers; ++l) {
    auto n = [l](const char* s) { return fmt::format("layers.{}.{}", l, s); };
    const Part in_rows = two_d ? Row : R;     // column-parallel in 1D: rows whole
    const Part out_rows = two_d ? Row : Col;  // row-parallel in 1D: rows split
    const Part out_cols = two_d ? Col : R;
    b.vector(n("attn_ln.weight"), l, d.hidden, hid, InitKind::Ones);
    b.vector(n("attn_ln.bias"), l, d.hidden, hid, InitKind::Zeros);
    b.matrix(n("qkv.weight"), l, d.hidden, 3 * d.hidden, in_rows, Col);
    b.vector(n("qkv.bias"), l, 3 * d.hidden, Col, InitKind::Zeros);
    b.matrix(n("out.weight"), l, d.hidden, d.hidden, out_rows, out_cols);
    b.vector(n("out.bias"), l, d.hidden, hid, InitKind::Zeros);
    b.vector(n("mlp_ln.weight"), l, d.hidden, hid, InitKind::Ones);
    b.vector(n("mlp_ln.bias"), l, d.hidden, hid, InitKind::Zeros);
    b.matrix(n("fc1.weight"), l, d.hidden, d.ffn, in_rows, Col);
    b.vector(n("fc1.bias"), l, d.ffn, Col, InitKind::Zeros);
    b.matrix(n("fc2.weight"), l, d.ffn, d.hidden, out_rows, out_cols);
    b.vector(n("fc2.bias"), l, d.hidden, hid, InitKind::Zeros);
  }
  b.vector("final_ln.weight", -1, d.hidden, hid, InitKind::Ones);
  b.vector("final_ln.bias", -1, d.hidden, hid, InitKind::Zeros);
  return store;
}

}  // namespace zoptimus
