// Shared by the attention tests: random q/k/v in the transformer's layout and a direct causal
// softmax attention in double (the reference every attention kernel is compared with).
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace zoptimus::test {

struct Case {
  int batch, seq, heads, head_dim;
};

// qkv [batch * seq, heads * 3 * head_dim], values N(0, 1) times `spread` for q and k; `drift`
// adds position * drift to a shared component of q and k, so later keys score higher.
std::vector<float> make_qkv(const Case& c, float spread, float drift, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const int ld = c.heads * 3 * c.head_dim;
  std::vector<float> qkv(static_cast<std::size_t>(c.batch) * c.seq * ld);
  for (int b = 0; b < c.batch; ++b)
    for (int i = 0; i < c.seq; ++i)
      for (int h = 0; h < c.heads; ++h)
        for (int part = 0; part < 3; ++part)
          for (int d = 0; d < c.head_dim; ++d) {
            float v = g(rng) * (part < 2 ? spread : 1.0f);
            if (part == 1 && d == 0) v += drift * i;
            if (part == 0 && d == 0) v += drift > 0 ? 1.0f : 0.0f;
            qkv[(static_cast<std::size_t>(b) * c.seq + i) * ld + (h * 3 + part) * c.head_dim + d] =
                v;
          }
  return qkv;
}

// Direct causal softmax attention in double.
std::vector<double> reference(const Case& c, const std::vector<float>& qkv) {
  const int ld = c.heads * 3 * c.head_dim, ldo = c.heads * c.head_dim;
  std::vector<double> out(static_cast<std::size_t>(c.batch) * c.seq * ldo);
  std::vector<double> s(c.seq);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
  for (int b = 0; b < c.batch; ++b)
    for (int h = 0; h < c.heads; ++h)
      for (int i = 0; i < c.seq; ++i) {
        const float* q = &qkv[(static_cast<std::size_t>(b) * c.seq + i) * ld + h * 3 * c.head_dim];
        double m = -1e300;
        for (int j = 0; j <= i; ++j) {
          const float* k =
              &qkv[(static_cast<std::size_t>(b) * c.seq + j) * ld + (h * 3 + 1) * c.head_dim];
          double acc = 0;
          for (int d = 0; d < c.head_dim; ++d) acc += static_cast<double>(q[d]) * k[d];
          s[j] = acc * scale;
          m = std::max(m, s[j]);
        }
        double denom = 0;
        for (int j = 0; j <= i; ++j) denom += (s[j] = std::exp(s[j] - m));
        double* o = &out[(static_cast<std::size_t>(b) * c.seq + i) * ldo + h * c.head_dim];
        for (int j = 0; j <= i; ++j) {
          const float* v =
              &qkv[(static_cast<std::size_t>(b) * c.seq + j) * ld + (h * 3 + 2) * c.head_dim];
          for (int d = 0; d < c.head_dim; ++d) o[d] += s[j] / denom * v[d];
        }
      }
  return out;
}

}  // namespace zoptimus::test
