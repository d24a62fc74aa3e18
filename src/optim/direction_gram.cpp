// Exact Gram matrix of regenerated directions (see direction_gram.hpp).
#include "optim/direction_gram.hpp"

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "kernels/perturbation.hpp"
#include "kernels/sparse_mask.hpp"

namespace zoptimus {

namespace {

using SeedView = Kokkos::View<std::uint64_t*, MemSpace>;

// What both forms share: the tensor block, the directions, and the reduction over
// K (K + 1) / 2 slot-packed sums of z_a z_b (a <= b) over the valid, masked entries.
struct GramSums {
  using value_type = double[];
  using size_type = int;
  int value_count;
  Matrix theta;
  SeedView seeds;
  int k;
  std::uint64_t stream;
  std::int64_t r0, c0, gcols;
  int vr, vc;
  std::int32_t h;  // mask_bits of the Sparse threshold
  Perturbation dist;

  KOKKOS_INLINE_FUNCTION void init(value_type sums) const {
    for (int s = 0; s < value_count; ++s) sums[s] = 0;
  }
  KOKKOS_INLINE_FUNCTION void join(value_type dst, const value_type src) const {
    for (int s = 0; s < value_count; ++s) dst[s] += src[s];
  }
#if KOKKOS_VERSION < 30700
  KOKKOS_INLINE_FUNCTION void join(volatile value_type dst, const volatile value_type src) const {
    for (int s = 0; s < value_count; ++s) dst[s] += src[s];
  }
#endif
};

// Device form: one work item per aligned quad of global indices in a local row (as in the
// quad form of the ZO pass).
struct GramPass : GramSums {
  int ncols, quads;

  KOKKOS_INLINE_FUNCTION void operator()(const int item, value_type sums) const {
    const int i = item / quads, q = item % quads;
    const std::int64_t g_row = (r0 + i) * gcols + c0;
    const int off = static_cast<int>(g_row & 3);
    const int j0 = 4 * q - off;
    if (i >= vr || j0 >= vc || j0 + 3 < 0) return;
    const std::uint64_t quad = static_cast<std::uint64_t>((g_row - off) / 4 + q);
    bool use[4];
    bool any = false;
    for (int e = 0; e < 4; ++e) {
      const int j = j0 + e;
      use[e] = j >= 0 && j < vc && in_mask(theta(i, j), h);
      any = any || use[e];
    }
    if (!any) return;
    float z[kMaxGramDirections][4];
    for (int a = 0; a < k; ++a) {
      const Normal4 n = direction4(dist, seeds(a), stream, quad);
      for (int e = 0; e < 4; ++e) z[a][e] = use[e] ? n.v[e] : 0.0f;
    }
    int slot = 0;
    for (int a = 0; a < k; ++a)
      for (int b = a; b < k; ++b, ++slot) {
        double s = 0;
        for (int e = 0; e < 4; ++e) s += static_cast<double>(z[a][e]) * z[b][e];
        sums[slot] += s;
      }
  }
};

// Host form: batched row chunks (as in the row form of the ZO pass), so the generator
// vectorizes; the same sums up to the order of addition.
struct GramRows : GramSums {
  int chunks;

  void operator()(const int item, value_type sums) const {
    const int i = item / chunks;
    const RowChunk chunk = row_chunk((r0 + i) * gcols + c0, item % chunks, vc);
    const int base = chunk.base, jb = chunk.begin, je = chunk.end;
    if (jb >= je) return;
    const std::uint64_t quad0 = chunk.first_quad;
    const float* th = &theta(i, 0);
    alignas(64) float z[kMaxGramDirections][kNormalBatch];
    for (int a = 0; a < k; ++a) {
      direction_batch(dist, seeds(a), stream, quad0, z[a]);
      for (int j = jb; j < je; ++j) z[a][j - base] = in_mask(th[j], h) ? z[a][j - base] : 0.0f;
    }
    int slot = 0;
    for (int a = 0; a < k; ++a)
      for (int b = a; b < k; ++b, ++slot) {
        double s = 0;
        for (int j = jb; j < je; ++j) s += static_cast<double>(z[a][j - base]) * z[b][j - base];
        sums[slot] += s;
      }
  }
};

// Sums of z_a z_b over tensor t's local block, slot-packed (a <= b).
template <class Pass, class Policy>
void gram_sums(const Pass& pass, const Policy& policy, Kokkos::View<double*, HostSpace> sums) {
  Kokkos::parallel_reduce("zoptimus::direction_gram", policy, pass, sums);
  Kokkos::fence();
}

}  // namespace

std::vector<double> direction_gram(const ParameterStore& params, Perturbation dist,
                                   const std::vector<std::uint64_t>& seeds,
                                   const std::vector<std::vector<char>>& active,
                                   const std::vector<float>& thresholds, Collectives& comm) {
  const int K = static_cast<int>(seeds.size());
  if (K > kMaxGramDirections)
    fail(
        "Anderson: {} directions in the window exceed the limit of {}; lower optim.anderson.m "
        "or optim.n_perturb",
        K, kMaxGramDirections);
  std::vector<double> gram(static_cast<std::size_t>(K) * K, 0.0);
  for (const auto& t : params.tensors()) {
    if (!t.owns_block) continue;  // replicated blocks count once
    // The directions living on this tensor.
    std::vector<int> on;
    for (int a = 0; a < K; ++a)
      if (active.empty() || active[a][t.id]) on.push_back(a);
    const int k = static_cast<int>(on.size());
    if (k == 0) continue;
    SeedView dev("zoptimus::gram_seeds", k);
    auto host = Kokkos::create_mirror_view(dev);
    for (int a = 0; a < k; ++a) host(a) = seeds[on[a]];
    Kokkos::deep_copy(dev, host);
    const std::int32_t h =
        mask_bits(thresholds.empty() ? std::numeric_limits<float>::infinity() : thresholds[t.id]);
    const int vr = static_cast<int>(t.valid_rows()), vc = static_cast<int>(t.valid_cols());
    Kokkos::View<double*, HostSpace> sums("zoptimus::gram_sums", k * (k + 1) / 2);
    // The passes extend `common` (their base): initialise them from it, so that a field added
    // to or reordered in GramSums cannot shift the others (brace elision would).
    const GramSums common{k * (k + 1) / 2,
                          params.data(t.id),
                          dev,
                          k,
                          static_cast<std::uint64_t>(t.id),
                          t.row_offset(),
                          t.col_offset(),
                          t.cols,
                          vr,
                          vc,
                          h,
                          dist};
    if constexpr (Kokkos::SpaceAccessibility<Kokkos::DefaultHostExecutionSpace,
                                             MemSpace>::accessible) {
      const int chunks = row_chunks(vc);
      const GramRows pass{common, chunks};
      gram_sums(pass, Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, vr * chunks), sums);
    } else {
      const int quads = (static_cast<int>(t.local_cols()) + 3) / 4 + 1;
      const GramPass pass{common, static_cast<int>(t.local_cols()), quads};
      gram_sums(pass, Kokkos::RangePolicy<ExecSpace>(0, vr * quads), sums);
    }
    int slot = 0;
    for (int a = 0; a < k; ++a)
      for (int b = a; b < k; ++b, ++slot) {
        gram[on[a] * K + on[b]] += sums(slot);
        if (a != b) gram[on[b] * K + on[a]] += sums(slot);
      }
  }
  comm.allreduce_sum(Axis::World, gram.data(), gram.size());
  return gram;
}

}  // namespace zoptimus
