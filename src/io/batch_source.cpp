// Batch sources: synthetic (seeded) batches; datasets are added in token_dataset.cpp.
#include "io/batch_source.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.hpp"
#include "io/dataset_batch_source.hpp"
#include "io/synthetic_data.hpp"
#include "io/token_dataset.hpp"

namespace zoptimus {

namespace {

// Held-out batches are drawn far from the training stream of the same seed.
constexpr std::int64_t kEvalBatchOffset = std::int64_t{1} << 40;

class SyntheticBatches : public BatchSource {
 public:
  SyntheticBatches(const Config& config, const Mesh& mesh)
      : data_(config.data),
        vocab_(config.model.vocab),
        replica_(mesh.replica()),
        dp_(mesh.shape().dp),
        eval_sequences_(config.run.eval_sequences > 0
                            ? config.run.eval_sequences
                            : std::int64_t{config.run.eval_batches} * config.data.batch) {}
  Batch train_batch(std::int64_t index) override {
    return synthetic_batch(data_, vocab_, replica_, dp_, index);
  }
  Batch eval_batch(std::int64_t index) override {
    // Global held-out sequence numbers, whatever dp: the batch of one replica of `batch`
    // sequences at kEvalBatchOffset + index*dp + replica (the same as before at dp = 1).
    Batch b = synthetic_batch(data_, vocab_, 0, 1, kEvalBatchOffset + index * dp_ + replica_);
    const std::int64_t first = (index * dp_ + replica_) * static_cast<std::int64_t>(b.batch);
    mask_sequences(b,
                   static_cast<int>(std::clamp<std::int64_t>(eval_sequences_ - first, 0, b.batch)));
    return b;
  }
  std::int64_t eval_sequences() const override { return eval_sequences_; }
  std::string describe() const override {
    return fmt::format("synthetic {} batches (seed {})", choice_name(data_.task), data_.seed);
  }

 private:
  DataConfig data_;
  int vocab_, replica_, dp_;
  std::int64_t eval_sequences_;
};

}  // namespace

std::unique_ptr<BatchSource> make_batch_source(const Config& config, const Mesh& mesh) {
  if (config.data.path.empty()) return std::make_unique<SyntheticBatches>(config, mesh);
  return make_dataset_batch_source(config, mesh);
}

}  // namespace zoptimus
