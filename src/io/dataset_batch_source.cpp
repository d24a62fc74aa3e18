// Train batches cycle through /train of the dataset, eval batches come from /validation.
#include "io/dataset_batch_source.hpp"

#include <fmt/format.h>

#include "io/token_dataset.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus {

namespace {

class DatasetBatches : public BatchSource {
 public:
  DatasetBatches(const Config& config, const Mesh& mesh)
      : dataset_(config.data.path, config.data.task, config.data.seq_len, config.model.vocab),
        batch_(config.data.batch),
        replica_(mesh.replica()),
        dp_(mesh.shape().dp),
        world_(mesh.world()) {}
  // Every rank asks for training batch `index` together, so a bad row (a token outside the
  // vocabulary) becomes one agreed error instead of one message per rank and a hang.
  Batch train_batch(std::int64_t index) override {
    return run_collectively(world_, [&] {
      return dataset_batch(dataset_, TokenSplit::Train, batch_, replica_, dp_, index);
    });
  }
  Batch eval_batch(std::int64_t index) override {
    return dataset_batch(dataset_, TokenSplit::Validation, batch_, replica_, dp_, index);
  }
  std::string describe() const override {
    const TokenDatasetInfo& i = dataset_.info();
    return fmt::format("token dataset {} ({}, {}, train {} x {}, validation {} x {})", i.path,
                       i.task, i.tokenizer, i.train_rows, i.seq_len, i.validation_rows, i.seq_len);
  }

 private:
  TokenDataset dataset_;
  int batch_, replica_, dp_;
  MPI_Comm world_;
};

}  // namespace

std::unique_ptr<BatchSource> make_dataset_batch_source(const Config& config, const Mesh& mesh) {
  return std::make_unique<DatasetBatches>(config, mesh);
}

}  // namespace zoptimus
