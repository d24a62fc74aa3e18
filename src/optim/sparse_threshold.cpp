// Exact distributed quantiles of |theta| (see sparse_threshold.hpp).
#include "optim/sparse_threshold.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/sparse_mask.hpp"

namespace zoptimus {

namespace {

float from_bits(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

long long local_count_below(const ParameterStore& params, int id, float h) {
  const TensorInfo& t = params.tensors()[id];
  if (!t.owns_block) return 0;
  Matrix m = params.data(id);
  const int vr = static_cast<int>(t.valid_rows()), vc = static_cast<int>(t.valid_cols());
  const std::int32_t h_bits = mask_bits(h);  // the kernels' own mask, so counts match them
  long long count = 0;
  Kokkos::parallel_reduce(
      "zoptimus::sparse_count_below",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {vr, vc}),
      KOKKOS_LAMBDA(const int i, const int j, long long& c) { c += in_mask(m(i, j), h_bits); },
      count);
  return count;
}

}  // namespace

std::vector<std::int64_t> count_below(const ParameterStore& params,
                                      const std::vector<float>& thresholds, Collectives& comm) {
  const int n = static_cast<int>(params.size());
  std::vector<std::int64_t> counts(n);
  for (int k = 0; k < n; ++k) counts[k] = local_count_below(params, k, thresholds[k]);
  comm.allreduce_sum(Axis::World, counts.data(), counts.size());
  return counts;
}

std::vector<float> sparse_thresholds(const ParameterStore& params, double sparsity,
                                     Collectives& comm) {
  const int n = static_cast<int>(params.size());
  std::vector<long long> target(n);
  for (int k = 0; k < n; ++k)
    target[k] = static_cast<long long>(
        std::ceil((1.0 - sparsity) * static_cast<double>(params.tensors()[k].global_size())));
  // Invariant: count(<= from_bits(hi)) >= target; lo is one below the answer's bits.
  std::vector<std::uint32_t> lo(n, 0), hi(n, 0x7f800000u);  // +inf
  std::vector<float> mid(n);
  for (int iter = 0; iter < 32; ++iter) {
    for (int k = 0; k < n; ++k) mid[k] = from_bits(lo[k] + (hi[k] - lo[k]) / 2);
    const std::vector<std::int64_t> c = count_below(params, mid, comm);
    for (int k = 0; k < n; ++k) {
      const std::uint32_t m = lo[k] + (hi[k] - lo[k]) / 2;
      if (c[k] >= target[k])
        hi[k] = m;
      else
        lo[k] = m + 1 > hi[k] ? hi[k] : m + 1;
    }
  }
  std::vector<float> h(n);
  for (int k = 0; k < n; ++k) h[k] = target[k] == 0 ? -1.0f : from_bits(hi[k]);
  return h;
}

}  // namespace zoptimus
