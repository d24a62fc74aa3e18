// WeightSource: where the forward pass gets each local weight block. Plain inference reads
// the stored parameters; the ZO optimizers hand out perturbed blocks (W ± eps z) built in
// scratch buffers. The model does not know which one it is using.
#pragma once

#include "core/types.hpp"
#include "model/parameter_store.hpp"

namespace zoptimus {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The local block of tensor `id`. Sources that build blocks in scratch buffers must keep
  // the two most recent blocks valid (a weight and its bias, a gamma and its beta).
  virtual ConstMatrix block(int id) = 0;
};

class StoredWeights : public WeightSource {
 public:
  explicit StoredWeights(const ParameterStore& params) : params_(params) {}
  ConstMatrix block(int id) override { return params_.data(id); }

 private:
  const ParameterStore& params_;
};

}  // namespace zoptimus
