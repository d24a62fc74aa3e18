// Plain, unpartitioned, single-process OPT decoder forward pass used as ground truth in tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace zoptimus::reference {

// Model dimensions. hidden must be divisible by heads.
struct Dims {
  int vocab, hidden, heads, layers, ffn, max_positions;
  bool gelu = false;
  double layernorm_eps = 1e-5;
};

// All tensors row-major at their GLOBAL shapes, keyed by canonical zoptimus names:
// embed_tokens [V, h], embed_positions [P + 2, h], layers.{i}.{attn_ln,mlp_ln}.{weight,bias} [h],
// layers.{i}.qkv.weight [h, 3h] (columns interleaved per head: q|k|v of head 0, then head 1...),
// layers.{i}.qkv.bias [3h], layers.{i}.out.weight [h, h], layers.{i}.out.bias [h],
// layers.{i}.fc1.weight [h, ffn], layers.{i}.fc1.bias [ffn], layers.{i}.fc2.weight [ffn, h],
// layers.{i}.fc2.bias [h], final_ln.weight [h], final_ln.bias [h]. Weights are [in, out].
struct Params {
  std::map<std::string, std::vector<float>> tensors;
};

// Deterministic test weights: a hash of (seed, name, index) mapped to [-scale, scale];
// LayerNorm gammas are 1 + that value, LayerNorm betas and all others are just that value.
Params make_params(const Dims&, std::uint64_t seed, float scale = 0.05f);

// Shapes of every tensor by name.
std::map<std::string, std::vector<int>> param_shapes(const Dims&);

// tokens: [batch * seq] row-major. Returns logits [batch*seq, vocab], computed in double.
std::vector<double> forward_logits(const Dims&, const Params&, const std::vector<int>& tokens,
                                   int batch, int seq);

// Next-token cross-entropy: position t predicts tokens[t+1] within each sequence; targets equal
// to pad_id are skipped (pass -1 for no padding). Returns {sum_loss, count}.
std::pair<double, long> lm_loss(const Dims&, const Params&, const std::vector<int>& tokens,
                                int batch, int seq, int pad_id);

// MeZO-style classification: per sequence b, the logits at position last_pos[b] restricted to
// label_words -> softmax CE against label index labels[b]. Returns {sum_loss, correct_count};
// a prediction is the first label word with the largest logit.
std::pair<double, int> classification_loss(const Dims&, const Params&,
                                           const std::vector<int>& tokens, int batch, int seq,
                                           const std::vector<int>& last_pos,
                                           const std::vector<int>& label_words,
                                           const std::vector<int>& labels);

}  // namespace zoptimus::reference
