// OffloadedWeights (see offloaded_weights.hpp).
#include "model/offload/offloaded_weights.hpp"

namespace zoptimus {

void OffloadedWeights::begin_pass() {
  pipeline_.end();
  inner_.begin_pass();
  pipeline_.begin(inner_.updates_parameters());
}

void OffloadedWeights::stage(int id) {
  const int layer = params_.tensors()[id].layer;
  if (layer >= 0) {
    if (layer != pipeline_.current_layer()) pipeline_.enter(layer);
  } else if (pipeline_.current_layer() >= 0) {
    pipeline_.end();  // past the decoder layers
  }
}

}  // namespace zoptimus
