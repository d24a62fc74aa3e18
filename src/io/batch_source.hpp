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
  // This replica's share of held-out batch number `index`: global held-out sequences
  // [(index*dp + replica)*batch, + batch); those at or past eval_sequences() are masked
  // (no targets, label -1), so an evaluation scores the same sequences on every mesh.
  virtual Batch eval_batch(std::int64_t index) = 0;
  // How many held-out sequences one evaluation scores (all replicas together): the whole
  // validation split of a dataset, or run.eval_sequences when set; synthetic data:
  // run.eval_sequences, or run.eval_batches * data.batch.
  virtual std::int64_t eval_sequences() const = 0;
  virtual std::string describe() const = 0;
};

// Synthetic when data.path is empty, otherwise the HDF5 token dataset. Collective over the
// mesh's world (opening a dataset may fail on some ranks only).
std::unique_ptr<BatchSource> make_batch_source(const Config& config, const Mesh& mesh);

}  // namespace zoptimus
