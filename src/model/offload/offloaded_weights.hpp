// OffloadedWeights: a weight source that runs another (ZoWeights, StoredWeights) over
// offloaded parameters. When the forward asks for a tensor of a new decoder layer, the
// pipeline makes that layer resident (OffloadPipeline::enter) before the inner source reads
// it; the first tensor after the layers (the final LayerNorm) ends the pipeline's pass. So
// each layer is uploaded once per forward and serves every stream, and a deferred update the
// inner source applies lands in the slot and is written back. The model does not know.
#pragma once

#include "model/offload/offload_pipeline.hpp"
#include "model/weight_source.hpp"

namespace zoptimus {

class OffloadedWeights : public WeightSource {
 public:
  OffloadedWeights(WeightSource& inner, OffloadPipeline& pipeline, const ParameterStore& params)
      : inner_(inner), pipeline_(pipeline), params_(params) {}
  ~OffloadedWeights() override { finish(); }

  int streams() const override { return inner_.streams(); }
  BlockPair blocks(int id) override {
    stage(id);
    return inner_.blocks(id);
  }
  BlockPair pass_blocks(int id) override {
    stage(id);
    return inner_.pass_blocks(id);
  }
  void begin_pass() override;
  bool updates(int id) const override { return inner_.updates(id); }

  // Ends the pipeline's pass if one is open (after a forward; the parameters are then all
  // in their host masters).
  void finish() { pipeline_.end(); }

 private:
  void stage(int id);

  WeightSource& inner_;
  OffloadPipeline& pipeline_;
  const ParameterStore& params_;
};

}  // namespace zoptimus
