// BatchSource: where a run's micro-batches come from, per data-parallel replica: a token
// dataset (data.path) or batches generated from data.seed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "model/batch.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Training micro-batch number `index` (step x perturbation) of this replica; sources cycle
  // through their data deterministically.
  virtual Batch train_batch(std::int64_t index) = 0;
  // Held-out batch number `index`, 0 <= index < config run.eval_batches.
  virtual Batch eval_batch(std::int64_t index) = 0;
  virtual std::string describe() const = 0;
};

// Synthetic when data.path is empty, otherwise the HDF5 token dataset. Collective over the
// mesh's world (opening a dataset may fail on some ranks only).
std::unique_ptr<BatchSource> make_batch_source(const Config& config, const Mesh& mesh);

}  // namespace zoptimus
