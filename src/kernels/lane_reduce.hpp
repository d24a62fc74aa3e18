// Row reductions written over 16 independent lanes so that GCC vectorizes them without
// -ffast-math (a single float accumulator is a serial chain the compiler may not reorder).
// The lane order is fixed, so the result is the same on every build of the same code.
#pragma once

#include "kernels/fast_math.hpp"

namespace zoptimus::lanes {

inline constexpr int kLanes = 16;

// max_j x[j] (-3e38 for n <= 0).
inline float max_of(const float* x, int n) {
  float acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = -3.0e38f;
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
  float m = -3.0e38f;
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  for (int l = 0; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  return m;
}

// sum_j exp(x[j] - shift), without writing x.
inline float sum_exp(const float* x, int n, float shift) {
  float acc[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += fast_exp(x[j + l] - shift);
  float s = 0.0f;
  for (; j < n; ++j) s += fast_exp(x[j] - shift);
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// x[j] = exp(x[j] - shift) in place; returns the sum of the new x.
inline float exp_in_place_sum(float* x, int n, float shift) {
  float acc[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float p = fast_exp(x[j + l] - shift);
      x[j + l] = p;
      acc[l] += p;
    }
  float s = 0.0f;
  for (; j < n; ++j) {
    x[j] = fast_exp(x[j] - shift);
    s += x[j];
  }
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// Sum and sum of squares in double (LayerNorm statistics).
inline void sum_and_squares(const float* x, int n, double& sum, double& squares) {
  constexpr int L = 8;
  double s[L] = {}, s2[L] = {};
  int j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) {
      const double v = x[j + l];
      s[l] += v;
      s2[l] += v * v;
    }
  double a = 0, b = 0;
  for (; j < n; ++j) {
    const double v = x[j];
    a += v;
    b += v * v;
  }
  for (int l = 0; l < L; ++l) {
    a += s[l];
    b += s2[l];
  }
  sum = a;
  squares = b;
}

}  // namespace zoptimus::lanes
