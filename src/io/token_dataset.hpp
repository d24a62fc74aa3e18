// Reading token datasets (layout: token_dataset_format.hpp): the validated reader that serves
// each data-parallel replica only its rows. Building rows: token_rows.hpp; writing:
// token_dataset_writer.hpp; the BatchSource over a dataset: dataset_batch_source.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/token_dataset_format.hpp"
#include "io/token_rows.hpp"
#include "model/batch.hpp"

namespace zoptimus {

enum class TokenSplit { Train, Validation, Test };

// What a validated dataset holds (attributes and shapes).
struct TokenDatasetInfo {
  std::string path;
  std::string task;
  std::string tokenizer;
  std::int64_t vocab = 0;
  std::int64_t seq_len = 0;
  std::int64_t pad_id = 0;
  std::int64_t bos_id = -1, eos_id = -1;  // -1: none recorded
  std::int64_t train_rows = 0;
  std::int64_t validation_rows = 0;
  std::int64_t test_rows = 0;             // 0: the file has no /test split
  std::vector<std::int32_t> label_words;  // classification
};

// An open token dataset. Rows are read on demand with hyperslabs: the file is never loaded
// whole. Each process opens the file on its own (plain POSIX reads, no collectives).
class TokenDataset {
 public:
  // Opens and validates the file against what the run expects: format, version, task,
  // vocab <= model_vocab, seq_len, dtypes and shapes, and the tokenizer name when
  // `model_tokenizer` is not empty (model.tokenizer). Throws zoptimus::Error naming the file,
  // the object, and expected against found.
  TokenDataset(const std::string& path, const std::string& task, int seq_len, int model_vocab,
               const std::string& model_tokenizer = "");
  ~TokenDataset();
  TokenDataset(const TokenDataset&) = delete;
  TokenDataset& operator=(const TokenDataset&) = delete;

  const TokenDatasetInfo& info() const { return info_; }
  std::int64_t rows(TokenSplit split) const;

  // Global sequences [first, first + count) of a split, wrapping modulo its row count, as a
  // Batch (targets derived with next_token_targets; classification fields filled).
  Batch read(TokenSplit split, std::int64_t first, int count) const;

 private:
  void open_and_validate(const std::string& path, const std::string& task, int seq_len,
                         int model_vocab, const std::string& model_tokenizer,
                         const std::string& where);

  struct Handles;
  std::unique_ptr<Handles> h_;
  TokenDatasetInfo info_;
};

// Batch number `index` of `replica` of `dp`: global sequences [(index*dp + replica)*batch,
// + batch) of the split, modulo its rows. The same global index gives the same rows on
// every mesh.
Batch dataset_batch(const TokenDataset& dataset, TokenSplit split, int batch, int replica, int dp,
                    std::int64_t index);

// The same sequences without wrapping, for an evaluation over the first `limit` rows of a
// split: rows at or past `limit` are masked (no targets, label -1), so they add nothing to
// the loss and every mesh scores the same sequences.
Batch dataset_eval_batch(const TokenDataset& dataset, TokenSplit split, int batch, int replica,
                         int dp, std::int64_t index, std::int64_t limit);

// Masks sequences [first_masked, batch) of `b`: no next-token targets, label -1.
void mask_sequences(Batch& b, int first_masked);

}  // namespace zoptimus
