// Train batches cycle through /train of the dataset, eval batches come from /validation.
#include "io/dataset_batch_source.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.hpp"

#include "io/token_dataset.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus {

namespace {

// A missing data.path says how a relative path was resolved: one given on the command line
// against the current directory, one written in the deck against the deck's folder.
const std::string& existing_data_path(const Config& config) {
  const std::string& path = config.data.path;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  bool on_command_line = false;
  for (const std::string& o : config.overrides)
    on_command_line = on_command_line || o.rfind("data.path=", 0) == 0;
  std::string how;
  if (on_command_line)
    how = fmt::format(
        "given on the command line; a relative path there is resolved against the current "
        "directory {}",
        std::filesystem::current_path(ec).string());
  else
    how = fmt::format(
        "set in the deck {}; a relative path there is resolved against the deck's folder",
        config.deck_path);
  fail("data.path = '{}': no such file ({}); build one with `zoptimus data`", path, how);
}

class DatasetBatches : public BatchSource {
 public:
  DatasetBatches(const Config& config, const Mesh& mesh)
      : dataset_(existing_data_path(config), std::string(choice_name(config.data.task)),
                 config.data.seq_len, config.model.vocab, config.model.tokenizer),
        eval_split_(config.data.eval_split == "test" ? TokenSplit::Test : TokenSplit::Validation),
        batch_(config.data.batch),
        replica_(mesh.replica()),
        dp_(mesh.shape().dp),
        world_(mesh.world()) {
    const std::int64_t rows = dataset_.rows(eval_split_);
    if (rows == 0)
      fail(
          "token dataset '{}': data.eval_split = \"test\" but the file has no /test split "
          "(build it with `zoptimus data --test FILE`)",
          config.data.path);
    eval_sequences_ =
        config.run.eval_sequences > 0 ? std::min(config.run.eval_sequences, rows) : rows;
  }
  // Every rank asks for training batch `index` together, so a bad row (a token outside the
  // vocabulary) becomes one agreed error instead of one message per rank and a hang.
  Batch train_batch(std::int64_t index) override {
    return run_collectively(world_, [&] {
      return dataset_batch(dataset_, TokenSplit::Train, batch_, replica_, dp_, index);
    });
  }
  // Every rank reads held-out batch `index` together (ModelSession::evaluate runs the same
  // count everywhere), so a bad validation row is one agreed error too.
  Batch eval_batch(std::int64_t index) override {
    return run_collectively(world_, [&] {
      return dataset_eval_batch(dataset_, eval_split_, batch_, replica_, dp_, index,
                                eval_sequences_);
    });
  }
  std::int64_t eval_sequences() const override { return eval_sequences_; }
  std::string describe() const override {
    const TokenDatasetInfo& i = dataset_.info();
    return fmt::format(
        "token dataset {} ({}, {}, vocab {}, train {} x {}, validation {} x {}{}); evaluation: "
        "{} {} sequences",
        i.path, i.task, i.tokenizer, i.vocab, i.train_rows, i.seq_len, i.validation_rows, i.seq_len,
        i.test_rows > 0 ? fmt::format(", test {} x {}", i.test_rows, i.seq_len) : "",
        eval_sequences_, eval_split_ == TokenSplit::Test ? "test" : "validation");
  }

 private:
  TokenDataset dataset_;
  TokenSplit eval_split_;
  int batch_, replica_, dp_;
  std::int64_t eval_sequences_ = 0;
  MPI_Comm world_;
};

}  // namespace

std::unique_ptr<BatchSource> make_dataset_batch_source(const Config& config, const Mesh& mesh) {
  return std::make_unique<DatasetBatches>(config, mesh);
}

}  // namespace zoptimus
