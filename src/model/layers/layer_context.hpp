// What every distributed building block of a decoder works with: the mesh (shape and this
// rank's coordinates) and the collectives over its axes. Blocks take this, the local blocks
// of their tensors (fetched by id from a WeightSource) and their own workspace; they know
// nothing of the family (OPT, ...) that composes them (docs/design.md, "Model").
#pragma once

#include <array>

#include "model/weight_source.hpp"
#include "parallel/collectives.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

struct LayerContext {
  const Mesh& mesh;
  Collectives& comm;
  // 2D (Optimus): activations [b/q * s, h/q]; 1D (Megatron): activations replicated [b*s, h].
  bool two_d() const { return mesh.shape().mode == MeshMode::TwoD; }
};

// One activation per forward stream; blocks run the first n streams together so that each
// weight block is fetched once for all of them.
template <class View>
using PerStream = std::array<View, kMaxStreams>;

}  // namespace zoptimus
