// Bridges between the serial reference (reference_opt.hpp) and the partitioned model: the
// reference's dimensions for a ModelConfig, and the reference weights loaded into a model.
#pragma once

#include "core/config.hpp"
#include "model/transformer.hpp"
#include "support/reference_opt.hpp"

namespace zoptimus::test_support {

inline reference::Dims reference_dims(const ModelConfig& m) {
  return {m.vocab,
          m.hidden,
          m.heads,
          m.layers,
          m.ffn,
          m.max_positions,
          m.activation == Activation::Gelu,
          m.layernorm_eps};
}

// Every rank takes its blocks of the reference's global tensors.
inline void load_reference_params(Transformer& model, const reference::Params& p) {
  for (const auto& t : model.params().tensors())
    model.params().set_block_from_global(t.id, p.tensors.at(t.name).data());
}

}  // namespace zoptimus::test_support
