// Writing a token dataset (layout: token_dataset_format.hpp) from one process.
#pragma once

#include <string>
#include <vector>

#include "io/token_rows.hpp"
#include "io/tokenizer_bytes.hpp"

namespace zoptimus {

// A whole dataset in memory, as the writer takes it.
struct TokenDatasetContents {
  std::string task = "lm";  // "lm" or "classification"
  int seq_len = 0;
  // The tokenizer the ids come from; bos/eos -1 when it has none.
  std::string tokenizer = bytes_v1::kName;
  std::int64_t vocab = bytes_v1::kVocab;
  std::int64_t bos_id = bytes_v1::kBos, eos_id = bytes_v1::kEos, pad_id = bytes_v1::kPad;
  TokenRows train, validation;
  TokenRows test;                         // optional (rows == 0: no /test group)
  std::vector<std::int32_t> label_words;  // classification: token of label k
  std::vector<std::string> label_names;   // classification: recorded as an attribute
  std::string source;                     // free text recorded as an attribute (inputs)
};

// Writes to `path.tmp`, then renames it to `path`. Refuses an existing `path` unless
// overwrite. Throws zoptimus::Error naming the file.
void write_token_dataset(const std::string& path, const TokenDatasetContents& contents,
                         bool overwrite);

}  // namespace zoptimus
