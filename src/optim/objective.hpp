// Objective: what a ZO optimizer minimises, seen from optim: losses of one or several weight
// streams on a batch, reduced over the mesh. The optimizer owns the perturbation (the
// WeightSource it hands in); the objective owns the model, the task and the communication.
// train/ModelSession implements it for the partitioned transformer.
#pragma once

#include <vector>

#include "model/batch.hpp"
#include "model/weight_source.hpp"

namespace zoptimus {

class Objective {
 public:
  virtual ~Objective() = default;
  // One loss per stream of `weights`: stream s is evaluated on batches[s]
  // (batches.size() == weights.streams()).
  virtual std::vector<LossSums> losses(const std::vector<const Batch*>& batches,
                                       WeightSource& weights) = 0;
};

}  // namespace zoptimus
