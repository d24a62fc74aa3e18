// Plain, unpartitioned, single-process OPT decoder forward pass used as ground truth in tests.
#include "support/reference_opt.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace zoptimus::reference {
namespace {

using Mat = std::vector<double>;  // row-major, shape carried by the caller

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Uniform in [-1, 1], a pure function of (seed, name, index).
double hash_uniform(std::uint64_t seed, std::uint64_t name_hash, std::uint64_t index) {
  std::uint64_t h = splitmix64(splitmix64(seed ^ splitmix64(name_hash)) + index);
  return static_cast<double>(h >> 11) * (2.0 / 9007199254740992.0) - 1.0;  // 2^53
}

std::string layer_name(int i, const char* suffix) {
  return "layers." + std::to_string(i) + "." + suffix;
}

// Every tensor of param_shapes must be present with the right element count.
void check_params(const Dims& d, const Params& p) {
  for (const auto& [name, shape] : param_shapes(d)) {
    auto it = p.tensors.find(name);
    if (it == p.tensors.end()) throw std::invalid_argument("reference_opt: missing tensor " + name);
    size_t n = 1;
    for (int e : shape) n *= static_cast<size_t>(e);
    if (it->second.size() != n)
      throw std::invalid_argument("reference_opt: tensor " + name + " has " +
                                  std::to_string(it->second.size()) + " elements, expected " +
                                  std::to_string(n));
  }
}

const std::vector<float>& get(const Params& p, const std::string& name) {
  return p.tensors.at(name);
}

// LayerNorm of each of `rows` rows of width n, biased variance.
Mat layer_norm(const Mat& x, int rows, int n, const std::vector<float>& gamma,
               const std::vector<float>& beta, double eps) {
  Mat y(x.size());
  for (int r = 0; r < rows; ++r) {
    const double* xr = &x[static_cast<size_t>(r) * n];
    double mean = 0.0;
    for (int c = 0; c < n; ++c) mean += xr[c];
    mean /= n;
    double var = 0.0;
    for (int c = 0; c < n; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= n;
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int c = 0; c < n; ++c)
      y[static_cast<size_t>(r) * n + c] = (xr[c] - mean) * inv * gamma[c] + beta[c];
  }
  return y;
}

// y[rows, out] = x[rows, in] W[in, out] + b[out].
Mat linear(const Mat& x, int rows, int in, int out, const std::vector<float>& w,
           const std::vector<float>& b) {
  Mat y(static_cast<size_t>(rows) * out);
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < out; ++o) {
      double acc = b[o];
      for (int i = 0; i < in; ++i)
        acc += x[static_cast<size_t>(r) * in + i] *
               static_cast<double>(w[static_cast<size_t>(i) * out + o]);
      y[static_cast<size_t>(r) * out + o] = acc;
    }
  return y;
}

void check_inputs(const Dims& d, const std::vector<int>& tokens, int batch, int seq) {
  if (d.vocab <= 0 || d.hidden <= 0 || d.heads <= 0 || d.layers < 0 || d.ffn <= 0 ||
      d.max_positions <= 0 || d.hidden % d.heads != 0)
    throw std::invalid_argument("reference_opt: bad dims");
  if (batch <= 0 || seq <= 0 || seq > d.max_positions)
    throw std::invalid_argument("reference_opt: bad batch/seq");
  if (tokens.size() != static_cast<size_t>(batch) * seq)
    throw std::invalid_argument("reference_opt: tokens size != batch * seq");
  for (int t : tokens)
    if (t < 0 || t >= d.vocab) throw std::invalid_argument("reference_opt: token out of range");
}

// log(sum(exp(v))) computed stably.
double log_sum_exp(const double* v, int n) {
  double m = v[0];
  for (int i = 1; i < n; ++i) m = std::max(m, v[i]);
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += std::exp(v[i] - m);
  return m + std::log(s);
}

}  // namespace

std::map<std::string, std::vector<int>> param_shapes(const Dims& d) {
  std::map<std::string, std::vector<int>> s;
  const int h = d.hidden;
  s["embed_tokens"] = {d.vocab, h};
  s["embed_positions"] = {d.max_positions + 2, h};  // OPT position offset 2
  for (int i = 0; i < d.layers; ++i) {
    s[layer_name(i, "attn_ln.weight")] = {h};
    s[layer_name(i, "attn_ln.bias")] = {h};
    s[layer_name(i, "qkv.weight")] = {h, 3 * h};
    s[layer_name(i, "qkv.bias")] = {3 * h};
    s[layer_name(i, "out.weight")] = {h, h};
    s[layer_name(i, "out.bias")] = {h};
    s[layer_name(i, "mlp_ln.weight")] = {h};
    s[layer_name(i, "mlp_ln.bias")] = {h};
    s[layer_name(i, "fc1.weight")] = {h, d.ffn};
    s[layer_name(i, "fc1.bias")] = {d.ffn};
    s[layer_name(i, "fc2.weight")] = {d.ffn, h};
    s[layer_name(i, "fc2.bias")] = {h};
  }
  s["final_ln.weight"] = {h};
  s["final_ln.bias"] = {h};
  return s;
}

Params make_params(const Dims& d, std::uint64_t seed, float scale) {
  Params p;
  for (const auto& [name, shape] : param_shapes(d)) {
    long n = 1;
    for (int e : shape) n *= e;
    const std::uint64_t nh = fnv1a(name);
    // LayerNorm gammas sit around 1 so that the signal neither vanishes nor explodes.
    const bool gamma = name.size() >= 10 && name.compare(name.size() - 10, 10, "_ln.weight") == 0;
    std::vector<float> t(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) {
      const double u = scale * hash_uniform(seed, nh, static_cast<std::uint64_t>(i));
      t[static_cast<size_t>(i)] = static_cast<float>(gamma ? 1.0 + u : u);
    }
    p.tensors.emplace(name, std::move(t));
  }
  return p;
}

std::vector<double> forward_logits(const Dims& d, const Params& p, const std::vector<int>& tokens,
                                   int batch, int seq) {
  check_inputs(d, tokens, batch, seq);
  check_params(d, p);
  const int h = d.hidden, heads = d.heads, dh = h / heads, ffn = d.ffn;
  const int rows = batch * seq;
  const auto& emb = get(p, "embed_tokens");
  const auto& pos = get(p, "embed_positions");

  Mat x(static_cast<size_t>(rows) * h);
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < seq; ++t) {
      const int r = b * seq + t;
      const int tok = tokens[static_cast<size_t>(r)];
      for (int c = 0; c < h; ++c)
        x[static_cast<size_t>(r) * h + c] =
            static_cast<double>(emb[static_cast<size_t>(tok) * h + c]) +
            static_cast<double>(pos[static_cast<size_t>(t + 2) * h + c]);
    }

  const double inv_sqrt_dh = 1.0 / std::sqrt(static_cast<double>(dh));
  for (int l = 0; l < d.layers; ++l) {
    // Attention block.
    Mat a = layer_norm(x, rows, h, get(p, layer_name(l, "attn_ln.weight")),
                       get(p, layer_name(l, "attn_ln.bias")), d.layernorm_eps);
    Mat qkv = linear(a, rows, h, 3 * h, get(p, layer_name(l, "qkv.weight")),
                     get(p, layer_name(l, "qkv.bias")));
    Mat ctx(static_cast<size_t>(rows) * h, 0.0);
    std::vector<double> score(static_cast<size_t>(seq));
    for (int b = 0; b < batch; ++b)
      for (int j = 0; j < heads; ++j) {
        // Interleaved layout: head j's q, k, v are columns j*3dh + {0, dh, 2dh} + [0, dh).
        const int qc = j * 3 * dh, kc = qc + dh, vc = qc + 2 * dh;
        for (int tq = 0; tq < seq; ++tq) {
          const double* q = &qkv[static_cast<size_t>(b * seq + tq) * 3 * h + qc];
          double m = -INFINITY;
          for (int tk = 0; tk <= tq; ++tk) {  // causal: keys up to the query position
            const double* k = &qkv[static_cast<size_t>(b * seq + tk) * 3 * h + kc];
            double s = 0.0;
            for (int e = 0; e < dh; ++e) s += q[e] * k[e];
            score[tk] = s * inv_sqrt_dh;
            m = std::max(m, score[tk]);
          }
          double z = 0.0;
          for (int tk = 0; tk <= tq; ++tk) {
            score[tk] = std::exp(score[tk] - m);
            z += score[tk];
          }
          double* out = &ctx[static_cast<size_t>(b * seq + tq) * h + j * dh];
          for (int tk = 0; tk <= tq; ++tk) {
            const double* v = &qkv[static_cast<size_t>(b * seq + tk) * 3 * h + vc];
            const double w = score[tk] / z;
            for (int e = 0; e < dh; ++e) out[e] += w * v[e];
          }
        }
      }
    Mat o = linear(ctx, rows, h, h, get(p, layer_name(l, "out.weight")),
                   get(p, layer_name(l, "out.bias")));
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];

    // MLP block.
    Mat m = layer_norm(x, rows, h, get(p, layer_name(l, "mlp_ln.weight")),
                       get(p, layer_name(l, "mlp_ln.bias")), d.layernorm_eps);
    Mat f = linear(m, rows, h, ffn, get(p, layer_name(l, "fc1.weight")),
                   get(p, layer_name(l, "fc1.bias")));
    for (double& v : f)
      v = d.gelu ? 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))) : std::max(v, 0.0);
    Mat g = linear(f, rows, ffn, h, get(p, layer_name(l, "fc2.weight")),
                   get(p, layer_name(l, "fc2.bias")));
    for (size_t i = 0; i < x.size(); ++i) x[i] += g[i];
  }

  Mat xf =
      layer_norm(x, rows, h, get(p, "final_ln.weight"), get(p, "final_ln.bias"), d.layernorm_eps);
  // Tied LM head: logits = xf embed_tokens^T, no bias.
  std::vector<double> logits(static_cast<size_t>(rows) * d.vocab);
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < d.vocab; ++v) {
      double acc = 0.0;
      for (int c = 0; c < h; ++c)
        acc += xf[static_cast<size_t>(r) * h + c] *
               static_cast<double>(emb[static_cast<size_t>(v) * h + c]);
      logits[static_cast<size_t>(r) * d.vocab + v] = acc;
    }
  return logits;
}

std::pair<double, long> lm_loss(const Dims& d, const Params& p, const std::vector<int>& tokens,
                                int batch, int seq, int pad_id) {
  const std::vector<double> logits = forward_logits(d, p, tokens, batch, seq);
  double sum = 0.0;
  long count = 0;
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t + 1 < seq; ++t) {
      const int target = tokens[static_cast<size_t>(b) * seq + t + 1];
      if (target == pad_id) continue;
      const double* row = &logits[static_cast<size_t>(b * seq + t) * d.vocab];
      sum += log_sum_exp(row, d.vocab) - row[target];
      ++count;
    }
  return {sum, count};
}

std::pair<double, int> classification_loss(const Dims& d, const Params& p,
                                           const std::vector<int>& tokens, int batch, int seq,
                                           const std::vector<int>& last_pos,
                                           const std::vector<int>& label_words,
                                           const std::vector<int>& labels) {
  if (last_pos.size() != static_cast<size_t>(batch) || labels.size() != static_cast<size_t>(batch))
    throw std::invalid_argument("reference_opt: last_pos/labels size != batch");
  const int nl = static_cast<int>(label_words.size());
  if (nl == 0) throw std::invalid_argument("reference_opt: no label words");
  for (int w : label_words)
    if (w < 0 || w >= d.vocab)
      throw std::invalid_argument("reference_opt: label word out of range");
  const std::vector<double> logits = forward_logits(d, p, tokens, batch, seq);
  double sum = 0.0;
  int correct = 0;
  std::vector<double> sel(static_cast<size_t>(nl));
  for (int b = 0; b < batch; ++b) {
    const int lp = last_pos[static_cast<size_t>(b)], y = labels[static_cast<size_t>(b)];
    if (lp < 0 || lp >= seq || y < 0 || y >= nl)
      throw std::invalid_argument("reference_opt: last_pos or label out of range");
    const double* row = &logits[static_cast<size_t>(b * seq + lp) * d.vocab];
    int best = 0;
    for (int i = 0; i < nl; ++i) {
      sel[i] = row[label_words[i]];
      if (sel[i] > sel[best]) best = i;
    }
    sum += log_sum_exp(sel.data(), nl) - sel[y];
    if (best == y) ++correct;
  }
  return {sum, correct};
}

}  // namespace zoptimus::reference
