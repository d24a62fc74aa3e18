// The polynomial exp/log used by the softmax and cross-entropy kernels against libm in double,
// and the 16-lane row reductions against plain double sums.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/fast_math.hpp"
#include "kernels/lane_reduce.hpp"

namespace zoptimus {
namespace {

float next_up(float x) {
  return std::nextafter(x, 3.0e38f);
}

// Relative error of fast_exp against exp in double over [-87, 88]: a dense grid plus every
// float in a few ulp-sized windows around the range-reduction boundaries. The bound is 2 ulp
// of a float (2^-22 = 2.4e-7): the Taylor tail (5e-9) plus rounding of ~8 float operations.
TEST(FastMath, ExpMatchesLibmDouble) {
  double worst = 0;
  float at = 0;
  auto check = [&](float x) {
    if (x > 88.0f) return;  // clamped there by design
    const double ref = std::exp(static_cast<double>(x));
    const double err = std::abs(fast_exp(x) - ref) / ref;
    if (err > worst) worst = err, at = x;
  };
  for (int i = 0; i <= 2000000; ++i) check(-87.0f + 175.0f * static_cast<float>(i) / 2000000.0f);
  for (float c : {-0.34657359f, 0.34657359f, 0.0f, -87.0f, 88.0f - 1e-4f, 1.0f, -20.0f}) {
    float x = c;
    for (int k = 0; k < 1000; ++k) check(x = next_up(x));
  }
  EXPECT_LT(worst, 2.4e-7) << "at x = " << at;
  // Below the range the weight is exactly 0; masked softmax entries rely on it.
  EXPECT_EQ(fast_exp(-88.0f), 0.0f);
  EXPECT_EQ(fast_exp(-3.0e38f), 0.0f);
  EXPECT_EQ(fast_exp(0.0f), 1.0f);
}

// Absolute error of fast_log against log in double over every binade of normal floats,
// relative to max(1, |ln x|): 3e-7 covers the series truncation (3e-9) and float rounding.
TEST(FastMath, LogMatchesLibmDouble) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  double worst = 0;
  float at = 0;
  for (int e = -126; e <= 127; ++e)
    for (int i = 0; i < 4000; ++i) {
      const float x = std::ldexp(mant(rng), e);
      if (!std::isfinite(x)) continue;
      const double ref = std::log(static_cast<double>(x));
      const double err = std::abs(fast_log(x) - ref) / std::max(1.0, std::abs(ref));
      if (err > worst) worst = err, at = x;
    }
  // Near 1, where the result is small, the error is also small in absolute terms.
  for (float x = 0.999f; x < 1.001f; x = next_up(x)) {
    const double ref = std::log(static_cast<double>(x));
    EXPECT_NEAR(fast_log(x), ref, 1e-7 * std::abs(ref) + 1e-10) << x;
  }
  EXPECT_LT(worst, 3e-7) << "at x = " << at;
}

TEST(FastMath, LaneReductionsMatchDoubleSums) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 4.0f);
  for (int n : {0, 1, 15, 16, 17, 100, 50272}) {
    std::vector<float> x(n);
    for (auto& v : x) v = g(rng);
    double m = -3.0e38, se = 0, s = 0, s2 = 0;
    for (float v : x) m = std::max<double>(m, v);
    EXPECT_EQ(lanes::max_of(x.data(), n), static_cast<float>(m)) << n;
    for (float v : x) se += std::exp(static_cast<double>(v) - m);
    for (float v : x) s += v, s2 += static_cast<double>(v) * v;
    // Float sums of n positive terms: relative error <= n * 2^-24 in the worst case; the
    // 16 lanes make it far smaller, 1e-5 leaves room for the exp error.
    EXPECT_NEAR(lanes::sum_exp(x.data(), n, static_cast<float>(m)), se, 1e-5 * se + 1e-30) << n;
    double a, b;
    lanes::sum_and_squares(x.data(), n, a, b);
    EXPECT_NEAR(a, s, 1e-9 * (std::abs(s) + n));
    EXPECT_NEAR(b, s2, 1e-12 * s2 + 1e-30);
    std::vector<float> y = x;
    const float sum = lanes::exp_in_place_sum(y.data(), n, static_cast<float>(m));
    EXPECT_NEAR(sum, se, 1e-5 * se + 1e-30);
    for (int j = 0; j < n; ++j)
      ASSERT_NEAR(y[j], std::exp(static_cast<double>(x[j]) - m), 3e-7) << j;
  }
}

}  // namespace
}  // namespace zoptimus
