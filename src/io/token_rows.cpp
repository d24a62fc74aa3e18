// Token rows: LM windows, classification rows, the validation split, next-token targets.
#include "io/token_rows.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "io/tokenizer_bytes.hpp"

namespace zoptimus {

TokenRows lm_windows(const std::vector<std::string>& documents, int seq_len) {
  if (seq_len < 2) fail("seq_len = {}: must be at least 2 (a token and its next token)", seq_len);
  std::vector<std::int32_t> stream;
  for (const std::string& doc : documents) {
    stream.push_back(bytes_v1::kBos);
    for (std::int32_t t : bytes_v1::encode(doc)) stream.push_back(t);
    stream.push_back(bytes_v1::kEos);
  }
  TokenRows rows;
  rows.rows = (static_cast<std::int64_t>(stream.size()) + seq_len - 1) / seq_len;
  stream.resize(static_cast<std::size_t>(rows.rows) * seq_len, bytes_v1::kPad);
  rows.tokens = std::move(stream);
  return rows;
}

std::vector<std::int32_t> label_words_for(const std::vector<std::string>& label_names) {
  if (label_names.size() < 2)
    fail("classification needs at least 2 labels, got {}", label_names.size());
  std::vector<std::int32_t> words;
  for (std::size_t k = 0; k < label_names.size(); ++k) {
    if (label_names[k].empty()) fail("label {} is empty", k);
    const auto initial = static_cast<std::int32_t>(static_cast<unsigned char>(label_names[k][0]));
    for (std::size_t j = 0; j < k; ++j)
      if (words[j] == initial)
        fail(
            "labels '{}' and '{}' share the initial '{}': label word k is the byte token of the "
            "first character of label k, so the initials must be distinct",
            label_names[j], label_names[k], label_names[k][0]);
    words.push_back(initial);
  }
  return words;
}

std::vector<std::int32_t> byte_label_words(const std::string& words, std::size_t n_labels) {
  std::vector<std::string> items;
  for (std::size_t start = 0;;) {
    const std::size_t bar = words.find('|', start);
    items.push_back(
        words.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  if (items.size() != n_labels)
    fail("--label-words \"{}\" gives {} words for {} labels ('|'-separated)", words, items.size(),
         n_labels);
  std::vector<std::int32_t> ids;
  for (const std::string& w : items) {
    if (w.size() != 1)
      fail(
          "--label-words: '{}' is {} bytes, but a label word must be one token, and a bytes-v1 "
          "token is one byte (a single ASCII character); label words such as ' great' need the "
          "model's own tokenizer (scripts/make_dataset.py)",
          w, w.size());
    const auto id = static_cast<std::int32_t>(static_cast<unsigned char>(w[0]));
    if (std::find(ids.begin(), ids.end(), id) != ids.end())
      fail("--label-words \"{}\": '{}' appears twice; the label words must differ", words, w);
    ids.push_back(id);
  }
  return ids;
}

TokenRows classification_rows(const std::vector<LabeledText>& examples,
                              const std::vector<std::string>& label_names, int seq_len) {
  if (seq_len < 2) fail("seq_len = {}: must be at least 2 (BOS and one prompt token)", seq_len);
  TokenRows rows;
  rows.rows = static_cast<std::int64_t>(examples.size());
  rows.tokens.assign(examples.size() * static_cast<std::size_t>(seq_len), bytes_v1::kPad);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const LabeledText& ex = examples[i];
    if (ex.text.empty()) fail("{}: empty text", ex.where);
    const auto it = std::find(label_names.begin(), label_names.end(), ex.label);
    if (it == label_names.end())
      fail("{}: unknown label '{}' (expected one of: {})", ex.where, ex.label,
           fmt::join(label_names, ", "));
    std::int32_t* row = rows.tokens.data() + i * seq_len;
    row[0] = bytes_v1::kBos;
    const std::vector<std::int32_t> bytes = bytes_v1::encode(ex.text);
    const int kept = static_cast<int>(std::min<std::size_t>(bytes.size(), seq_len - 1));
    std::copy(bytes.begin(), bytes.begin() + kept, row + 1);
    rows.last_pos.push_back(kept);
    rows.labels.push_back(static_cast<std::int32_t>(it - label_names.begin()));
  }
  return rows;
}

void split_rows(const TokenRows& all, int seq_len, double validation_fraction, TokenRows& train,
                TokenRows& validation) {
  if (!(validation_fraction > 0.0 && validation_fraction < 1.0))
    fail("validation fraction = {}: must be in (0, 1)", validation_fraction);
  const std::int64_t n = all.rows;
  if (n < 2) fail("{} sequence(s): need at least 2 (one train, one validation); add more data", n);
  const std::int64_t n_val =
      std::clamp<std::int64_t>(std::llround(validation_fraction * n), 1, n - 1);
  const bool classify = !all.labels.empty();
  train = TokenRows{};
  validation = TokenRows{};
  for (std::int64_t i = 0; i < n; ++i) {
    // Row i is held out when floor((i+1) n_val / n) steps up: n_val rows, evenly spread.
    const bool held = (i + 1) * n_val / n > i * n_val / n;
    TokenRows& dst = held ? validation : train;
    dst.tokens.insert(dst.tokens.end(), all.tokens.begin() + i * seq_len,
                      all.tokens.begin() + (i + 1) * seq_len);
    if (classify) {
      dst.labels.push_back(all.labels[i]);
      dst.last_pos.push_back(all.last_pos[i]);
    }
    ++dst.rows;
  }
}

std::vector<int> next_token_targets(const std::vector<int>& tokens, int seq_len, int pad_id) {
  std::vector<int> targets(tokens.size(), -1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const bool last = static_cast<int>(i % seq_len) == seq_len - 1;
    if (!last && tokens[i + 1] != pad_id) targets[i] = tokens[i + 1];
  }
  return targets;
}

}  // namespace zoptimus
