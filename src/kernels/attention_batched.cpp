// Causal attention through strided-batched GEMMs (see attention_batched.hpp).
#include "kernels/attention_batched.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>

#include "core/device_context.hpp"
#include "core/error.hpp"
#include "kernels/fast_math.hpp"
#include "kernels/kokkos_math.hpp"
#include "linalg/gemm_batched.hpp"

namespace zoptimus {
namespace {

// The score buffer, grown on demand and released with the DeviceContext (before Kokkos
// finalises), so that a step allocates nothing.
class AttentionScores : public DeviceResource {
 public:
  Vector at_least(std::int64_t elements) {
    if (static_cast<std::int64_t>(scores_.extent(0)) < elements)
      scores_ = Vector(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, "zoptimus::attention_scores"), elements);
    return scores_;
  }

 private:
  Vector scores_;
};

// Score rows [i0, i0 + rows) of every sequence (sequence b's rows start at b * per_seq, `ld`
// apart), keys [0, keys): softmax over the causal keys j <= i (the rest set to 0, so the P V
// GEMM over all `keys` columns ignores them).
void causal_softmax_rows(Vector scores, int batch, int rows, std::int64_t per_seq, int ld, int i0,
                         int keys) {
  using Team = Kokkos::TeamPolicy<ExecSpace>::member_type;
  Kokkos::parallel_for(
      "zoptimus::attention_softmax", Kokkos::TeamPolicy<ExecSpace>(batch * rows, Kokkos::AUTO),
      KOKKOS_LAMBDA(const Team& team) {
        const int b = team.league_rank() / rows, r = team.league_rank() % rows;
        float* s = scores.data() + b * per_seq + static_cast<std::int64_t>(r) * ld;
        const int valid = i0 + r + 1;  // keys 0..i of query i
        float m = 0;
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, valid),
            [&](const int j, float& mx) { mx = s[j] > mx ? s[j] : mx; }, Kokkos::Max<float>(m));
        float sum = 0;
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, valid),
            [&](const int j, float& acc) {
              const float p = fast_exp(s[j] - m);
              s[j] = p;
              acc += p;
            },
            sum);
        team.team_barrier();
        const float inv = 1.0f / sum;
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, keys),
                             [&](const int j) { s[j] = j < valid ? s[j] * inv : 0.0f; });
      });
}

}  // namespace

void causal_attention_batched(ConstMatrix qkv, int batch, int seq, int heads, int head_dim,
                              Matrix out, int query_tile) {
  if (query_tile <= 0) fail("causal_attention_batched: query_tile = {} must be > 0", query_tile);
  if (batch == 0 || seq == 0 || heads == 0) return;
  const int ldq = static_cast<int>(qkv.stride_0()), ldo = static_cast<int>(out.stride_0());
  const std::int64_t seq_q = static_cast<std::int64_t>(seq) * ldq;
  const std::int64_t seq_o = static_cast<std::int64_t>(seq) * ldo;
  const int tile = std::min(query_tile, seq);
  // Scores of one tile: [batch][tile][seq], rows `seq` apart.
  const std::int64_t per_seq = static_cast<std::int64_t>(tile) * seq;
  Vector scores = DeviceContext::current()
                      .resource<AttentionScores>([] { return std::make_unique<AttentionScores>(); })
                      .at_least(per_seq * batch);
  const GemmMemory where = default_gemm_memory();
  const float scale = 1.0f / kmath::sqrt(static_cast<float>(head_dim));
  for (int h = 0; h < heads; ++h) {
    const float* q = qkv.data() + static_cast<std::int64_t>(h) * 3 * head_dim;
    const float* k = q + head_dim;
    const float* v = q + 2 * head_dim;
    float* o = out.data() + static_cast<std::int64_t>(h) * head_dim;
    for (int i0 = 0; i0 < seq; i0 += tile) {
      const int rows = std::min(tile, seq - i0), keys = i0 + rows;  // causal: keys < i0 + rows
      // S_b = scale Q_b[i0:i0+rows] K_b[0:keys]^T for every sequence b.
      gemm_strided_batched(where, Trans::No, Trans::Yes, rows, keys, head_dim, scale,
                           {q + static_cast<std::int64_t>(i0) * ldq, ldq, seq_q}, {k, ldq, seq_q},
                           0.0f, {scores.data(), seq, per_seq}, batch);
      causal_softmax_rows(scores, batch, rows, per_seq, seq, i0, keys);
      // O_b[i0:i0+rows, head h] = P_b V_b[0:keys].
      gemm_strided_batched(where, Trans::No, Trans::No, rows, head_dim, keys, 1.0f,
                           {scores.data(), seq, per_seq}, {v, ldq, seq_q}, 0.0f,
                           {o + static_cast<std::int64_t>(i0) * ldo, ldo, seq_o}, batch);
    }
  }
}

}  // namespace zoptimus
