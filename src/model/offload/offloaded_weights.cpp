// OffloadedWeights (see offloaded_weights.hpp).
#include "model/offload/offloaded_weights.hpp"

#include <utility>
#include <vector>

namespace zoptimus {

void OffloadedWeights::begin_pass() {
  pipeline_.end();
  inner_.begin_pass();
  // Only the layers whose blocks the pass changes go back to the host (LeZO leaves some
  // untouched).
  std::vector<char> write_back(pipeline_.layers(), 0);
  for (int l = 0; l < pipeline_.layers(); ++l)
    for (int id : pipeline_.tensors_of(l)) write_back[l] = write_back[l] || inner_.updates(id);
  pipeline_.begin(std::move(write_back));
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
