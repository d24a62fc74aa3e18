// Vocab-parallel cross-entropy (see vocab_parallel_cross_entropy.hpp).
#include "model/layers/vocab_parallel_cross_entropy.hpp"

#include <cmath>
#include <utility>

namespace zoptimus {

CrossEntropyBuffers::CrossEntropyBuffers(const std::string& prefix, int tokens)
    : targets(prefix + "targets", tokens),
      local_max(prefix + "ce_local_max", tokens),
      max(prefix + "ce_max", tokens),
      sumexp(prefix + "ce_sum", tokens),
      target(prefix + "ce_target", tokens) {}

std::int64_t CrossEntropyBuffers::bytes() const {
  return static_cast<std::int64_t>(targets.size() * sizeof(int) +
                                   (local_max.size() + max.size() + sumexp.size() + target.size()) *
                                       sizeof(TokenValues::value_type));
}

void ce_load_targets(const int* targets, CrossEntropyBuffers& ws) {
  const int tokens = static_cast<int>(ws.targets.extent(0));
  auto targets_host = Kokkos::create_mirror_view(ws.targets);
  for (int t = 0; t < tokens; ++t) targets_host(t) = targets[t];
  Kokkos::deep_copy(ws.targets, targets_host);
}

void ce_accumulate_rows(ConstMatrix rows, int first_row, int vocab_offset, int valid,
                        CrossEntropyBuffers& ws) {
  const auto range = std::make_pair(first_row, first_row + static_cast<int>(rows.extent(0)));
  const TokenValues local_max = Kokkos::subview(ws.local_max, range);
  ce_partial_max(rows, valid, local_max);
  ce_partial_sumexp(rows, valid, local_max, Kokkos::subview(ws.sumexp, range));
  ce_partial_target(rows, Kokkos::subview(ws.targets, range), vocab_offset, valid,
                    Kokkos::subview(ws.target, range));
}

LossSums ce_reduce_rows(LayerContext ctx, CrossEntropyBuffers& ws) {
  const int tokens = static_cast<int>(ws.targets.extent(0));
  Kokkos::deep_copy(ws.max, ws.local_max);
  ctx.comm.allreduce_max(Axis::Row, ws.max.data(), ws.max.size());
  ce_rescale_sumexp(ws.local_max, ws.max, ws.sumexp);
  ctx.comm.allreduce_sum(Axis::Row, ws.sumexp.data(), ws.sumexp.size());
  ctx.comm.allreduce_sum(Axis::Row, ws.target.data(), ws.target.size());
  auto targets_host = Kokkos::create_mirror_view_and_copy(HostSpace(), ws.targets);
  auto mx = Kokkos::create_mirror_view_and_copy(HostSpace(), ws.max);
  auto se = Kokkos::create_mirror_view_and_copy(HostSpace(), ws.sumexp);
  auto tg = Kokkos::create_mirror_view_and_copy(HostSpace(), ws.target);
  double sum = 0, count = 0;
  for (int t = 0; t < tokens; ++t) {
    if (targets_host(t) < 0) continue;
    sum += std::log(static_cast<double>(se(t))) + mx(t) - tg(t);
    count += 1;
  }
  return LossSums{sum, count, 0};
}

LossSums vocab_parallel_cross_entropy(LayerContext ctx, ConstMatrix logits, const int* targets,
                                      int vocab_offset, int valid, CrossEntropyBuffers& ws) {
  ce_load_targets(targets, ws);
  ce_accumulate_rows(logits, 0, vocab_offset, valid, ws);
  return ce_reduce_rows(ctx, ws);
}

}  // namespace zoptimus
