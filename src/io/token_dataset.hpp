// Token datasets (docs/design.md): the byte-level tokenizer, building and writing HDF5 token
// files, and the validated reader that serves each data-parallel replica only its rows.
//
// File layout ("zoptimus-tokens", version 1):
//   root attrs  format, format_version (int64), task ("lm" | "classification"),
//               tokenizer ("bytes-v1"), vocab, seq_len, pad_id (int64)
//   /train/tokens, /validation/tokens   int32 [N, seq_len]
//   /train/labels, /train/last_pos      int32 [N]   (classification; same under /validation)
//   /label_words                        int32 [L]   (classification)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "io/batch_source.hpp"
#include "model/batch.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

// Tokenizer "bytes-v1": token = byte value (0..255), then four special tokens.
namespace bytes_v1 {
inline constexpr std::int32_t kBos = 256;
inline constexpr std::int32_t kEos = 257;
inline constexpr std::int32_t kPad = 258;
inline constexpr std::int32_t kReserved = 259;
inline constexpr std::int32_t kVocab = 260;
inline constexpr const char* kName = "bytes-v1";

std::vector<std::int32_t> encode(std::string_view text);
// Bytes back to text; special tokens are dropped.
std::string decode(const std::vector<std::int32_t>& tokens);
}  // namespace bytes_v1

inline constexpr const char* kTokenDatasetFormat = "zoptimus-tokens";
inline constexpr std::int64_t kTokenDatasetVersion = 1;

// The rows of one split: tokens [rows, seq_len] row-major; labels and last_pos [rows] for
// classification (empty for LM).
struct TokenRows {
  std::int64_t rows = 0;
  std::vector<std::int32_t> tokens;
  std::vector<std::int32_t> labels;
  std::vector<std::int32_t> last_pos;
};

// A whole dataset in memory, as the writer takes it.
struct TokenDatasetContents {
  std::string task = "lm";  // "lm" or "classification"
  int seq_len = 0;
  TokenRows train, validation;
  std::vector<std::int32_t> label_words;  // classification: token of label k
  std::vector<std::string> label_names;   // classification: recorded as an attribute
  std::string source;                     // free text recorded as an attribute (inputs)
};

// LM rows: every document becomes BOS + bytes + EOS; the concatenated stream is cut into
// windows of seq_len tokens and the last window is padded with PAD.
TokenRows lm_windows(const std::vector<std::string>& documents, int seq_len);

// Classification: label word k is the byte token of the first character of label k's name;
// the initials must be distinct. Throws zoptimus::Error otherwise.
std::vector<std::int32_t> label_words_for(const std::vector<std::string>& label_names);

// One classification example; `where` ("file:line") is used in error messages.
struct LabeledText {
  std::string text;
  std::string label;
  std::string where;
};

// Classification rows: tokens = BOS + prompt bytes (truncated to seq_len - 1 bytes, then
// padded with PAD), last_pos = position of the last prompt token, label = index of the
// example's label in label_names. Throws on an empty text or an unknown label.
TokenRows classification_rows(const std::vector<LabeledText>& examples,
                              const std::vector<std::string>& label_names, int seq_len);

// Deterministic split: round(fraction * rows) rows (at least 1, at most rows - 1), spread
// evenly over the input, go to validation. Throws when rows < 2 or fraction not in (0, 1).
void split_rows(const TokenRows& all, int seq_len, double validation_fraction, TokenRows& train,
                TokenRows& validation);

// Writes a dataset from one process: to `path.tmp`, then renamed to `path`. Refuses an
// existing `path` unless overwrite. Throws zoptimus::Error naming the file.
void write_token_dataset(const std::string& path, const TokenDatasetContents& contents,
                         bool overwrite);

// The next-token targets of token rows: target[p] = tokens[p + 1], or -1 at the end of a row
// and where the next token is PAD.
std::vector<int> next_token_targets(const std::vector<int>& tokens, int seq_len, int pad_id);

enum class TokenSplit { Train, Validation };

// What a validated dataset holds (attributes and shapes).
struct TokenDatasetInfo {
  std::string path;
  std::string task;
  std::string tokenizer;
  std::int64_t vocab = 0;
  std::int64_t seq_len = 0;
  std::int64_t pad_id = 0;
  std::int64_t train_rows = 0;
  std::int64_t validation_rows = 0;
  std::vector<std::int32_t> label_words;  // classification
};

// An open token dataset. Rows are read on demand with hyperslabs: the file is never loaded
// whole. Each process opens the file on its own (plain POSIX reads, no collectives).
class TokenDataset {
 public:
  // Opens and validates the file against what the run expects: format, version, task,
  // vocab <= model_vocab, seq_len, dtypes and shapes. Throws zoptimus::Error naming the file,
  // the object, and expected against found.
  TokenDataset(const std::string& path, const std::string& task, int seq_len, int model_vocab);
  ~TokenDataset();
  TokenDataset(const TokenDataset&) = delete;
  TokenDataset& operator=(const TokenDataset&) = delete;

  const TokenDatasetInfo& info() const { return info_; }
  std::int64_t rows(TokenSplit split) const;

  // Global sequences [first, first + count) of a split, wrapping modulo its row count, as a
  // Batch (targets derived with next_token_targets; classification fields filled).
  Batch read(TokenSplit split, std::int64_t first, int count) const;

 private:
  struct Handles;
  std::unique_ptr<Handles> h_;
  TokenDatasetInfo info_;
};

// Batch number `index` of `replica` of `dp`: global sequences [(index*dp + replica)*batch,
// + batch) of the split, modulo its rows. The same global index gives the same rows on
// every mesh.
Batch dataset_batch(const TokenDataset& dataset, TokenSplit split, int batch, int replica, int dp,
                    std::int64_t index);

// The BatchSource over config.data.path: train batches cycle through /train, eval batches
// come from /validation. Call on every rank of the mesh (inside run_collectively): opening
// may fail on some ranks only.
std::unique_ptr<BatchSource> make_dataset_batch_source(const Config& config, const Mesh& mesh);

}  // namespace zoptimus
