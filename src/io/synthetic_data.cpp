// Seeded synthetic batches (see synthetic_data.hpp).
#include "io/synthetic_data.hpp"

#include "core/splitmix64.hpp"

namespace zoptimus {

namespace {
std::uint64_t hash3(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return splitmix64(a ^ splitmix64(b ^ splitmix64(c)));
}
}  // namespace

Batch synthetic_batch(const DataConfig& data, int vocab, int replica, int dp, std::int64_t index) {
  Batch b;
  b.batch = data.batch;
  b.seq = data.seq_len;
  b.tokens.resize(static_cast<std::size_t>(b.batch) * b.seq);
  b.targets.resize(b.tokens.size());
  const std::uint64_t seed = static_cast<std::uint64_t>(data.seed);
  const bool classify = data.task == Task::Classification;
  // Classification: two label words at the top of the vocabulary; the label is a property
  // of the prompt's first token so that it is learnable.
  if (classify) b.label_words = {vocab - 2, vocab - 1};
  const int v = classify ? vocab - 2 : vocab;
  for (int s = 0; s < b.batch; ++s) {
    const std::uint64_t g = static_cast<std::uint64_t>((index * dp + replica) * b.batch + s);
    // A learnable toy language: skewed unigrams (small ids are frequent), and half of the
    // time the next token follows a fixed bigram rule from the previous one.
    int prev = 0;
    for (int p = 0; p < b.seq; ++p) {
      const std::uint64_t h = hash3(seed, g, p);
      int tok;
      if (p > 0 && (h & 1)) {
        tok = (prev * 7 + 3) % v;
      } else {
        const double u = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
        tok = static_cast<int>(v * u * u * u);
      }
      b.tokens[s * b.seq + p] = tok;
      prev = tok;
    }
    for (int p = 0; p < b.seq; ++p)
      b.targets[s * b.seq + p] = p + 1 < b.seq ? b.tokens[s * b.seq + p + 1] : -1;
    if (classify) {
      b.last_pos.push_back(b.seq - 1);
      b.labels.push_back(b.tokens[s * b.seq] % 2);
    }
  }
  return b;
}

}  // namespace zoptimus
