// Both forms of the fused update + perturbation pass (see zo_fused_pass.hpp).
#include "optim/zo_fused_pass.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "kernels/perturbation.hpp"
#include "kernels/sparse_mask.hpp"
#include "kernels/stream_store.hpp"

namespace zoptimus {

void run_fused_pass(const FusedPass& p) {
  if constexpr (Kokkos::SpaceAccessibility<Kokkos::DefaultHostExecutionSpace, MemSpace>::accessible)
    run_fused_pass_rows(p);
  else
    run_fused_pass_quads(p);
}

void run_fused_pass_quads(const FusedPass& p) {
  const Matrix theta = p.theta, vel = p.velocity, plus = p.plus, minus = p.minus;
  const auto seeds = p.seeds;
  const auto coeffs = p.coeffs;
  const int n = p.directions, vr = p.valid_rows, vc = p.valid_cols;
  const bool perturb = p.perturb, use_momentum = p.velocity.extent(0) > 0;
  const std::uint64_t seed = p.seed, stream = p.stream;
  const std::int64_t r0 = p.row_offset, c0 = p.col_offset, gcols = p.global_cols;
  const double lr = p.lr, lambda = p.lambda, mu = p.mu;
  const float eps = p.eps;
  const std::int32_t h = mask_bits(p.threshold);
  const Perturbation dist = p.distribution;
  const int ncols = static_cast<int>(theta.extent(1));
  // One work item per aligned quad of global indices within a local row.
  const int quads = (ncols + 3) / 4 + 1;
  Kokkos::parallel_for(
      "zoptimus::zo_update_perturb",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0},
                                                        {static_cast<int>(theta.extent(0)), quads}),
      KOKKOS_LAMBDA(const int i, const int q) {
        const std::int64_t g_row = (r0 + i) * gcols + c0;
        const int off = static_cast<int>(g_row & 3);
        const int j0 = 4 * q - off;
        if (j0 >= ncols || j0 + 3 < 0) return;
        const std::uint64_t quad = static_cast<std::uint64_t>((g_row - off) / 4 + q);
        float th[4];
        bool in[4], valid[4], any_valid = false;
        for (int e = 0; e < 4; ++e) {
          const int j = j0 + e;
          in[e] = j >= 0 && j < ncols;
          valid[e] = in[e] && i < vr && j < vc;
          th[e] = in[e] ? theta(i, j) : 0.0f;
          any_valid = any_valid || valid[e];
        }
        if (n > 0 && any_valid) {
          double d[4];
          for (int e = 0; e < 4; ++e) d[e] = lambda * th[e];
          for (int k = 0; k < n; ++k) {
            if (coeffs(k) == 0.0) continue;
            const Normal4 z = direction4(dist, seeds(k), stream, quad);
            // Masked z times c is added even when masked (c * 0): the same operations, so
            // the same bits (signed zeros included), as the row form.
            for (int e = 0; e < 4; ++e) {
              const float zm = in_mask(th[e], h) ? z.v[e] : 0.0f;
              d[e] += coeffs(k) * zm;
            }
          }
          for (int e = 0; e < 4; ++e) {
            if (!valid[e]) continue;
            const int j = j0 + e;
            if (use_momentum) {
              d[e] = mu * vel(i, j) + d[e];
              vel(i, j) = static_cast<float>(d[e]);
            }
            th[e] = static_cast<float>(th[e] - lr * d[e]);
            theta(i, j) = th[e];
          }
        }
        if (perturb) {
          Normal4 z = {{0.0f, 0.0f, 0.0f, 0.0f}};
          if (any_valid) z = direction4(dist, seed, stream, quad);
          for (int e = 0; e < 4; ++e) {
            if (!in[e]) continue;
            const float ze = (valid[e] && in_mask(th[e], h)) ? z.v[e] : 0.0f;
            plus(i, j0 + e) = th[e] + eps * ze;
            minus(i, j0 + e) = th[e] - eps * ze;
          }
        }
      });
}

void run_fused_pass_rows(const FusedPass& p) {
  if constexpr (!Kokkos::SpaceAccessibility<Kokkos::DefaultHostExecutionSpace,
                                            MemSpace>::accessible) {
    fail("internal error: the row form of the ZO pass needs host-accessible parameters");
  } else {
    const Matrix theta = p.theta, vel = p.velocity, plus = p.plus, minus = p.minus;
    const auto seeds = p.seeds;
    const auto coeffs = p.coeffs;
    const int n = p.directions, vr = p.valid_rows, vc = p.valid_cols;
    const bool perturb = p.perturb, use_momentum = p.velocity.extent(0) > 0;
    const std::uint64_t seed = p.seed, stream = p.stream;
    const std::int64_t r0 = p.row_offset, c0 = p.col_offset, gcols = p.global_cols;
    const double lr = p.lr, lambda = p.lambda, mu = p.mu;
    const float eps = p.eps;
    const std::int32_t h = mask_bits(p.threshold);
    const Perturbation dist = p.distribution;
    const int ncols = static_cast<int>(theta.extent(1));
    const int chunks = row_chunks(ncols);
    Kokkos::parallel_for(
        "zoptimus::zo_update_perturb_rows",
        Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(
            0, static_cast<int>(theta.extent(0)) * chunks),
        [=](const int item) {
          const int i = item / chunks;
          const RowChunk chunk = row_chunk((r0 + i) * gcols + c0, item % chunks, ncols);
          const int base = chunk.base, jb = chunk.begin, je = chunk.end;
          if (jb >= je) return;
          const std::uint64_t quad0 = chunk.first_quad;
          // Columns [jb, jv) are valid parameters; [jv, je) is padding.
          const int jv = i < vr ? std::min(je, vc) : jb;
          float* th = &theta(i, 0);
          alignas(64) float z[kNormalBatch];
          if (n > 0 && jv > jb) {
            alignas(64) double d[kNormalBatch];
            for (int j = jb; j < jv; ++j) d[j - base] = lambda * th[j];
            for (int dir = 0; dir < n; ++dir) {
              const double c = coeffs(dir);
              if (c == 0.0) continue;
              direction_batch(dist, seeds(dir), stream, quad0, z);
              // Mask, then accumulate: two loops that both vectorize (a select on the sum
              // does not if-convert). Same operations as the quad form.
              for (int j = jb; j < jv; ++j) z[j - base] = in_mask(th[j], h) ? z[j - base] : 0.0f;
              for (int j = jb; j < jv; ++j) d[j - base] += c * z[j - base];
            }
            if (use_momentum) {
              float* v = &vel(i, 0);
              for (int j = jb; j < jv; ++j) {
                const double dj = mu * v[j] + d[j - base];
                v[j] = static_cast<float>(dj);
                th[j] = static_cast<float>(th[j] - lr * dj);
              }
            } else {
              for (int j = jb; j < jv; ++j) th[j] = static_cast<float>(th[j] - lr * d[j - base]);
            }
          }
          if (!perturb) return;
          alignas(64) float pl[kNormalBatch], mi[kNormalBatch];  // slot s: column base + s
          if (jv > jb) direction_batch(dist, seed, stream, quad0, z);
          for (int j = jb; j < jv; ++j) {
            const float t = th[j];
            const float zj = in_mask(t, h) ? z[j - base] : 0.0f;
            pl[j - base] = t + eps * zj;
            mi[j - base] = t - eps * zj;
          }
          for (int j = jv; j < je; ++j) pl[j - base] = mi[j - base] = th[j];
          stream_copy(&plus(i, jb), pl + (jb - base), je - jb);
          stream_copy(&minus(i, jb), mi + (jb - base), je - jb);
        });
    stream_fence();
  }
}

}  // namespace zoptimus
