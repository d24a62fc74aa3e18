// Closed-form and property checks of the plain OPT reference forward pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "support/reference_opt.hpp"

namespace zoptimus::reference {
namespace {

// All math is in double on O(1) values with at most a few thousand operations per output, so
// rounding differences between the reference and the hand computations stay far below 1e-12;
// 1e-10 (relative to max(1, |expected|)) leaves ample slack while catching any real error.
constexpr double kTol = 1e-10;

void expect_close(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, kTol * std::max(1.0, std::abs(want))) << what;
}

Dims small_dims(bool gelu = false) {
  Dims d{13, 8, 2, 2, 16, 8};
  d.gelu = gelu;
  return d;
}

std::string ln(int i, const std::string& s) {
  return "layers." + std::to_string(i) + "." + s;
}

void fill(Params& p, const std::string& name, float v) {
  auto& t = p.tensors.at(name);
  std::fill(t.begin(), t.end(), v);
}

// Every tensor set to zero, LayerNorm gammas to 1.
Params zero_params(const Dims& d) {
  Params p = make_params(d, 1);
  for (auto& [name, t] : p.tensors) {
    const bool gamma = name.size() >= 10 && name.compare(name.size() - 10, 10, "_ln.weight") == 0;
    std::fill(t.begin(), t.end(), gamma ? 1.0f : 0.0f);
  }
  return p;
}

// Plain LayerNorm of one vector, written independently of the reference.
std::vector<double> layer_norm(const std::vector<double>& x, const std::vector<float>& g,
                               const std::vector<float>& b, double eps) {
  const double n = static_cast<double>(x.size());
  double mean = 0, sq = 0;
  for (double v : x) mean += v / n;
  for (double v : x) sq += (v - mean) * (v - mean) / n;
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(sq + eps) * g[i] + b[i];
  return y;
}

std::vector<double> head_logits(const Dims& d, const Params& p, const std::vector<double>& hf) {
  const auto& e = p.tensors.at("embed_tokens");
  std::vector<double> out(static_cast<size_t>(d.vocab), 0.0);
  for (int v = 0; v < d.vocab; ++v)
    for (int c = 0; c < d.hidden; ++c) out[v] += hf[c] * e[static_cast<size_t>(v) * d.hidden + c];
  return out;
}

std::vector<int> some_tokens(const Dims& d, int batch, int seq) {
  std::vector<int> t(static_cast<size_t>(batch) * seq);
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int>((7 * i + 3) % d.vocab);
  return t;
}

// (e) param_shapes and make_params agree; weights are deterministic and within range.
TEST(ReferenceOpt, ShapesMatchParams) {
  const Dims d = small_dims();
  const auto shapes = param_shapes(d);
  const Params p = make_params(d, 42, 0.05f);
  EXPECT_EQ(shapes.size(), 4u + 12u * d.layers);
  ASSERT_EQ(shapes.size(), p.tensors.size());
  for (const auto& [name, shape] : shapes) {
    ASSERT_TRUE(p.tensors.count(name)) << name;
    size_t n = 1;
    for (int e : shape) n *= e;
    EXPECT_EQ(p.tensors.at(name).size(), n) << name;
    const bool gamma = name.find("_ln.weight") != std::string::npos;
    for (float v : p.tensors.at(name)) {
      EXPECT_LE(std::abs(v - (gamma ? 1.0f : 0.0f)), 0.05f + 1e-6f) << name;
    }
  }
  EXPECT_EQ(shapes.at("embed_tokens"), (std::vector<int>{d.vocab, d.hidden}));
  EXPECT_EQ(shapes.at("embed_positions"), (std::vector<int>{d.max_positions + 2, d.hidden}));
  EXPECT_EQ(shapes.at("layers.1.qkv.weight"), (std::vector<int>{d.hidden, 3 * d.hidden}));
  EXPECT_EQ(shapes.at("layers.0.fc2.weight"), (std::vector<int>{d.ffn, d.hidden}));
  EXPECT_EQ(shapes.at("final_ln.bias"), (std::vector<int>{d.hidden}));
  // Deterministic in the seed, different across seeds and across tensors.
  EXPECT_EQ(make_params(d, 42).tensors, p.tensors);
  EXPECT_NE(make_params(d, 43).tensors.at("embed_tokens"), p.tensors.at("embed_tokens"));
  EXPECT_NE(p.tensors.at("layers.0.out.bias"), p.tensors.at("layers.1.out.bias"));
}

// (a) A one-layer model with zero weights except embeddings: logits = LN(E[tok] + P[2]) E^T.
TEST(ReferenceOpt, ZeroLayerWeightsGiveEmbeddingLogits) {
  Dims d = small_dims();
  d.layers = 1;
  Params p = zero_params(d);
  const Params r = make_params(d, 7, 0.5f);
  p.tensors["embed_tokens"] = r.tensors.at("embed_tokens");
  p.tensors["embed_positions"] = r.tensors.at("embed_positions");
  const int tok = 5;
  const auto logits = forward_logits(d, p, {tok}, 1, 1);
  ASSERT_EQ(logits.size(), static_cast<size_t>(d.vocab));
  std::vector<double> x(d.hidden);
  for (int c = 0; c < d.hidden; ++c)
    x[c] = double(p.tensors["embed_tokens"][tok * d.hidden + c]) +
           p.tensors["embed_positions"][2 * d.hidden + c];
  const auto want = head_logits(
      d, p,
      layer_norm(x, std::vector<float>(d.hidden, 1.0f), std::vector<float>(d.hidden, 0.0f), 1e-5));
  for (int v = 0; v < d.vocab; ++v) expect_close(logits[v], want[v], "vocab " + std::to_string(v));
}

// With all weight matrices of the layer zero except out/fc2 and with random biases, the
// attention output is concat_heads(b_v) W_out + b_out at every position (softmax weights sum to
// 1), and the MLP adds act(b_fc1) W_fc2 + b_fc2. Checks the v columns of the interleaved
// layout, the activations and the final LayerNorm's gamma/beta, for several positions.
TEST(ReferenceOpt, BiasOnlyLayerClosedForm) {
  for (bool gelu : {false, true}) {
    Dims d = small_dims(gelu);
    d.layers = 1;
    d.layernorm_eps = 1e-3;
    const Params r = make_params(d, 11, 0.5f);
    Params p = zero_params(d);
    for (const char* n : {"embed_tokens", "embed_positions", "final_ln.weight", "final_ln.bias"})
      p.tensors[n] = r.tensors.at(n);
    for (const char* n : {"qkv.bias", "out.weight", "out.bias", "fc1.bias", "fc2.weight",
                          "fc2.bias", "attn_ln.bias", "mlp_ln.weight", "mlp_ln.bias"})
      p.tensors[ln(0, n)] = r.tensors.at(ln(0, n));
    const int h = d.hidden, dh = h / d.heads, seq = 4;
    const auto& qb = p.tensors[ln(0, "qkv.bias")];
    std::vector<double> vb(h);  // concat of the v parts of every head
    for (int j = 0; j < d.heads; ++j)
      for (int e = 0; e < dh; ++e) vb[j * dh + e] = qb[j * 3 * dh + 2 * dh + e];
    std::vector<double> delta(h, 0.0);
    const auto& wo = p.tensors[ln(0, "out.weight")];
    const auto& w2 = p.tensors[ln(0, "fc2.weight")];
    const auto& b1 = p.tensors[ln(0, "fc1.bias")];
    for (int c = 0; c < h; ++c) {
      delta[c] = double(p.tensors[ln(0, "out.bias")][c]) + p.tensors[ln(0, "fc2.bias")][c];
      for (int i = 0; i < h; ++i) delta[c] += vb[i] * wo[i * h + c];
      for (int f = 0; f < d.ffn; ++f) {
        const double z = b1[f];
        const double a = gelu ? 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0))) : std::max(z, 0.0);
        delta[c] += a * w2[f * h + c];
      }
    }
    const std::vector<int> toks = {3, 9, 0, 12};
    const auto logits = forward_logits(d, p, toks, 1, seq);
    for (int t = 0; t < seq; ++t) {
      std::vector<double> x(h);
      for (int c = 0; c < h; ++c)
        x[c] = double(p.tensors["embed_tokens"][toks[t] * h + c]) +
               p.tensors["embed_positions"][(t + 2) * h + c] + delta[c];
      const auto want = head_logits(
          d, p, layer_norm(x, p.tensors["final_ln.weight"], p.tensors["final_ln.bias"], 1e-3));
      for (int v = 0; v < d.vocab; ++v)
        expect_close(logits[t * d.vocab + v], want[v],
                     "gelu " + std::to_string(gelu) + " pos " + std::to_string(t));
    }
  }
}

// (f) A hand-computed 1-layer, 1-head attention on a 2-token sequence (MLP zero).
TEST(ReferenceOpt, HandComputedTwoTokenAttention) {
  Dims d{5, 4, 1, 1, 3, 4};
  const Params r = make_params(d, 3, 0.7f);
  Params p = zero_params(d);
  for (const char* n : {"embed_tokens", "embed_positions"}) p.tensors[n] = r.tensors.at(n);
  for (const char* n :
       {"attn_ln.weight", "attn_ln.bias", "qkv.weight", "qkv.bias", "out.weight", "out.bias"})
    p.tensors[ln(0, n)] = r.tensors.at(ln(0, n));
  const int h = 4;
  const std::vector<int> toks = {4, 1};
  const auto& E = p.tensors["embed_tokens"];
  const auto& P = p.tensors["embed_positions"];
  const auto& W = p.tensors[ln(0, "qkv.weight")];
  const auto& B = p.tensors[ln(0, "qkv.bias")];
  const auto& Wo = p.tensors[ln(0, "out.weight")];
  const auto& Bo = p.tensors[ln(0, "out.bias")];
  std::vector<std::vector<double>> x(2, std::vector<double>(h)), q = x, k = x, v = x;
  for (int t = 0; t < 2; ++t) {
    for (int c = 0; c < h; ++c) x[t][c] = double(E[toks[t] * h + c]) + P[(t + 2) * h + c];
    const auto a = layer_norm(x[t], p.tensors[ln(0, "attn_ln.weight")],
                              p.tensors[ln(0, "attn_ln.bias")], 1e-5);
    // One head: columns [0,h) are q, [h,2h) k, [2h,3h) v.
    for (int o = 0; o < h; ++o) {
      q[t][o] = B[o];
      k[t][o] = B[h + o];
      v[t][o] = B[2 * h + o];
      for (int i = 0; i < h; ++i) {
        q[t][o] += a[i] * W[i * 3 * h + o];
        k[t][o] += a[i] * W[i * 3 * h + h + o];
        v[t][o] += a[i] * W[i * 3 * h + 2 * h + o];
      }
    }
  }
  auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
  };
  // Token 0 sees only itself; token 1 sees both with weights softmax(q1.k / sqrt(dh)).
  const double s0 = dot(q[1], k[0]) / 2.0, s1 = dot(q[1], k[1]) / 2.0;  // sqrt(dh) = 2
  const double w0 = std::exp(s0) / (std::exp(s0) + std::exp(s1)), w1 = 1.0 - w0;
  std::vector<std::vector<double>> ctx = {v[0], v[0]};
  for (int c = 0; c < h; ++c) ctx[1][c] = w0 * v[0][c] + w1 * v[1][c];
  const auto logits = forward_logits(d, p, toks, 1, 2);
  for (int t = 0; t < 2; ++t) {
    std::vector<double> y = x[t];
    for (int c = 0; c < h; ++c) {
      y[c] += Bo[c];
      for (int i = 0; i < h; ++i) y[c] += ctx[t][i] * Wo[i * h + c];
    }
    const auto want = head_logits(
        d, p, layer_norm(y, p.tensors["final_ln.weight"], p.tensors["final_ln.bias"], 1e-5));
    for (int vv = 0; vv < d.vocab; ++vv)
      expect_close(logits[t * d.vocab + vv], want[vv], "pos " + std::to_string(t));
  }
}

// (f) Permuting heads consistently (qkv column blocks of 3*dh, out.weight row blocks of dh)
// leaves the logits unchanged; a permutation that assumes a [Q|K|V] blocked layout does not.
TEST(ReferenceOpt, HeadPermutationInvariance) {
  Dims d{17, 12, 3, 2, 20, 8};
  d.gelu = true;
  const Params p = make_params(d, 5, 0.3f);
  const int h = d.hidden, dh = h / d.heads, batch = 2, seq = 5;
  const std::vector<int> perm = {2, 0, 1};
  Params good = p, bad = p;
  for (int l = 0; l < d.layers; ++l) {
    const auto& W = p.tensors.at(ln(l, "qkv.weight"));
    const auto& B = p.tensors.at(ln(l, "qkv.bias"));
    const auto& Wo = p.tensors.at(ln(l, "out.weight"));
    auto& gW = good.tensors[ln(l, "qkv.weight")];
    auto& gB = good.tensors[ln(l, "qkv.bias")];
    auto& gWo = good.tensors[ln(l, "out.weight")];
    auto& bW = bad.tensors[ln(l, "qkv.weight")];
    auto& bB = bad.tensors[ln(l, "qkv.bias")];
    auto& bWo = bad.tensors[ln(l, "out.weight")];
    for (int j = 0; j < d.heads; ++j) {
      const int s = perm[j];  // new head j is old head s
      for (int c = 0; c < 3 * dh; ++c) {
        gB[j * 3 * dh + c] = B[s * 3 * dh + c];
        for (int i = 0; i < h; ++i) gW[i * 3 * h + j * 3 * dh + c] = W[i * 3 * h + s * 3 * dh + c];
      }
      // Wrong layout: move dh-wide blocks within each of three h-wide [Q|K|V] sections.
      for (int part = 0; part < 3; ++part)
        for (int c = 0; c < dh; ++c) {
          bB[part * h + j * dh + c] = B[part * h + s * dh + c];
          for (int i = 0; i < h; ++i)
            bW[i * 3 * h + part * h + j * dh + c] = W[i * 3 * h + part * h + s * dh + c];
        }
      for (int e = 0; e < dh; ++e)
        for (int c = 0; c < h; ++c) {
          gWo[(j * dh + e) * h + c] = Wo[(s * dh + e) * h + c];
          bWo[(j * dh + e) * h + c] = Wo[(s * dh + e) * h + c];
        }
    }
  }
  const auto toks = some_tokens(d, batch, seq);
  const auto ref = forward_logits(d, p, toks, batch, seq);
  const auto got = forward_logits(d, good, toks, batch, seq);
  const auto wrong = forward_logits(d, bad, toks, batch, seq);
  double max_wrong = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    expect_close(got[i], ref[i], "logit " + std::to_string(i));
    max_wrong = std::max(max_wrong, std::abs(wrong[i] - ref[i]));
  }
  EXPECT_GT(max_wrong, 1e-4);
}

// (b) Causality and batch independence: changing a later token of sequence 0 leaves its
// earlier positions and all of sequence 1 bit-identical (no row reads a later row), and does
// change the logits at and after that position.
TEST(ReferenceOpt, Causality) {
  const Dims d = small_dims();
  const Params p = make_params(d, 9, 0.3f);
  const int batch = 2, seq = 6, changed = 4;
  auto toks = some_tokens(d, batch, seq);
  const auto a = forward_logits(d, p, toks, batch, seq);
  toks[changed] = (toks[changed] + 1) % d.vocab;
  const auto b = forward_logits(d, p, toks, batch, seq);
  ASSERT_EQ(a.size(), static_cast<size_t>(batch * seq * d.vocab));
  for (int t = 0; t < seq; ++t) {
    double diff = 0;
    for (int v = 0; v < d.vocab; ++v) {
      const size_t i = static_cast<size_t>(t) * d.vocab + v;
      diff = std::max(diff, std::abs(a[i] - b[i]));
      EXPECT_EQ(a[i + seq * d.vocab], b[i + seq * d.vocab]) << "sequence 1 changed";
    }
    if (t < changed)
      EXPECT_EQ(diff, 0.0) << "position " << t;
    else
      EXPECT_GT(diff, 1e-6) << "position " << t;
  }
}

// Learned positions use row p + 2: rows 0 and 1 never matter, row 2 does.
TEST(ReferenceOpt, PositionOffsetIsTwo) {
  const Dims d = small_dims();
  const Params p = make_params(d, 21, 0.3f);
  const auto toks = some_tokens(d, 1, d.max_positions);
  const auto a = forward_logits(d, p, toks, 1, d.max_positions);
  Params q = p;
  for (int c = 0; c < 2 * d.hidden; ++c) q.tensors["embed_positions"][c] = 100.0f + c;
  EXPECT_EQ(forward_logits(d, q, toks, 1, d.max_positions), a);
  q.tensors["embed_positions"][2 * d.hidden] += 1.0f;
  EXPECT_NE(forward_logits(d, q, toks, 1, d.max_positions)[0], a[0]);
}

// (c) All-zero embed_tokens gives all-zero logits, so every counted target costs log(vocab);
// padded targets are skipped.
TEST(ReferenceOpt, LmLossUniformLogits) {
  const Dims d = small_dims();
  Params p = make_params(d, 4, 0.3f);
  fill(p, "embed_tokens", 0.0f);
  const int batch = 3, seq = 5, pad = 2;
  std::vector<int> toks = some_tokens(d, batch, seq);
  for (int& t : toks)
    if (t == pad) t = 1;
  auto [sum, count] = lm_loss(d, p, toks, batch, seq, -1);
  EXPECT_EQ(count, batch * (seq - 1));
  expect_close(sum / count, std::log(double(d.vocab)), "mean loss");
  // Pad two targets and the first token of a sequence (never a target, so not counted).
  toks[1 * seq + 3] = pad;
  toks[2 * seq + 4] = pad;
  toks[0] = pad;
  std::tie(sum, count) = lm_loss(d, p, toks, batch, seq, pad);
  EXPECT_EQ(count, batch * (seq - 1) - 2);
  expect_close(sum / count, std::log(double(d.vocab)), "mean loss with padding");
}

// lm_loss agrees with a log-softmax of forward_logits taken by hand.
TEST(ReferenceOpt, LmLossMatchesLogits) {
  const Dims d = small_dims(true);
  const Params p = make_params(d, 8, 0.5f);
  const int batch = 2, seq = 6;
  const auto toks = some_tokens(d, batch, seq);
  const auto logits = forward_logits(d, p, toks, batch, seq);
  double want = 0;
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t + 1 < seq; ++t) {
      const double* row = &logits[static_cast<size_t>(b * seq + t) * d.vocab];
      double z = 0;
      for (int v = 0; v < d.vocab; ++v) z += std::exp(row[v]);
      want += std::log(z) - row[toks[b * seq + t + 1]];
    }
  const auto [sum, count] = lm_loss(d, p, toks, batch, seq, -1);
  EXPECT_EQ(count, batch * (seq - 1));
  expect_close(sum, want, "lm sum");
}

// (d) A zeroed model (gammas 1) gives zero logits: two label words cost log(2) each; ties go to
// the first label word.
TEST(ReferenceOpt, ClassificationZeroModel) {
  const Dims d = small_dims();
  const Params p = zero_params(d);
  const int batch = 3, seq = 4;
  const auto toks = some_tokens(d, batch, seq);
  const auto [sum, correct] =
      classification_loss(d, p, toks, batch, seq, {3, 1, 2}, {6, 9}, {0, 1, 0});
  expect_close(sum, batch * std::log(2.0), "sum loss");
  EXPECT_EQ(correct, 2);
}

// Classification agrees with a softmax over the selected logits taken by hand.
TEST(ReferenceOpt, ClassificationMatchesLogits) {
  const Dims d = small_dims();
  const Params p = make_params(d, 12, 0.8f);
  const int batch = 4, seq = 5;
  const auto toks = some_tokens(d, batch, seq);
  const std::vector<int> last = {4, 2, 0, 3}, words = {1, 7, 11}, labels = {0, 2, 1, 1};
  const auto logits = forward_logits(d, p, toks, batch, seq);
  double want = 0;
  int want_correct = 0;
  for (int b = 0; b < batch; ++b) {
    const double* row = &logits[static_cast<size_t>(b * seq + last[b]) * d.vocab];
    double z = 0;
    int best = 0;
    for (int i = 0; i < 3; ++i) {
      z += std::exp(row[words[i]]);
      if (row[words[i]] > row[words[best]]) best = i;
    }
    want += std::log(z) - row[words[labels[b]]];
    want_correct += best == labels[b];
  }
  const auto [sum, correct] = classification_loss(d, p, toks, batch, seq, last, words, labels);
  expect_close(sum, want, "classification sum");
  EXPECT_EQ(correct, want_correct);
}

// ReLU and GELU models differ, and bad input is rejected.
TEST(ReferenceOpt, ActivationAndValidation) {
  const Dims r = small_dims(false), g = small_dims(true);
  const Params p = make_params(r, 2, 0.5f);
  const auto toks = some_tokens(r, 1, 4);
  EXPECT_NE(forward_logits(r, p, toks, 1, 4), forward_logits(g, p, toks, 1, 4));
  EXPECT_THROW(forward_logits(r, p, toks, 1, 3), std::invalid_argument);
  EXPECT_THROW(forward_logits(r, p, {0, r.vocab}, 1, 2), std::invalid_argument);
  EXPECT_THROW(forward_logits(r, p, some_tokens(r, 1, 9), 1, 9), std::invalid_argument);
  Params q = p;
  q.tensors.erase("layers.1.fc1.bias");
  EXPECT_THROW(forward_logits(r, q, toks, 1, 4), std::invalid_argument);
  q = p;
  q.tensors["final_ln.bias"].pop_back();
  EXPECT_THROW(forward_logits(r, q, toks, 1, 4), std::invalid_argument);
}

}  // namespace
}  // namespace zoptimus::reference
