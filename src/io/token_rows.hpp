// Building the rows of a token dataset: LM windows, classification prompts, the held-out
// split and next-token targets. Pure functions on memory; the writer and reader do the files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zoptimus {

// The rows of one split: tokens [rows, seq_len] row-major; labels and last_pos [rows] for
// classification (empty for LM).
struct TokenRows {
  std::int64_t rows = 0;
  std::vector<std::int32_t> tokens;
  std::vector<std::int32_t> labels;
  std::vector<std::int32_t> last_pos;
};

// LM rows: every document becomes BOS + bytes + EOS; the concatenated stream is cut into
// windows of seq_len tokens and the last window is padded with PAD.
TokenRows lm_windows(const std::vector<std::string>& documents, int seq_len);

// Classification: label word k is the byte token of the first character of label k's name;
// the initials must be distinct. Throws zoptimus::Error otherwise.
std::vector<std::int32_t> label_words_for(const std::vector<std::string>& label_names);

// Classification with label words given as text ("n|p": '|'-separated, one per label): in
// bytes-v1 each word must be one token, i.e. exactly one byte (a single ASCII character);
// the words must be distinct. Real label words (" great") need the model's tokenizer
// (scripts/make_dataset.py). Throws zoptimus::Error otherwise.
std::vector<std::int32_t> byte_label_words(const std::string& words, std::size_t n_labels);

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

// The next-token targets of token rows: target[p] = tokens[p + 1], or -1 at the end of a row
// and where the next token is PAD.
std::vector<int> next_token_targets(const std::vector<int>& tokens, int seq_len, int pad_id);

}  // namespace zoptimus
