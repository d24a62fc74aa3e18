// Vocab-parallel cross-entropy (see vocab_parallel_cross_entropy.hpp).
#include "model/layers/vocab_parallel_cross_entropy.hpp"

#include <cmath>

namespace zoptimus {

CrossEntropyBuffers::CrossEntropyBuffers(const std::string& prefix, int tokens)
    : targets(prefix + "targets", tokens),
      max(prefix + "ce_max", tokens),
      sumexp(prefix + "ce_sum", tokens),
      target(prefix + "ce_target", tokens) {}

std::int64_t CrossEntropyBuffers::bytes() const {
  return static_cast<std::int64_t>(targets.size() * sizeof(int) +
                                   (max.size() + sumexp.size() + target.size()) *
                                       sizeof(TokenValues::value_type));
}

LossSums vocab_parallel_cross_entropy(LayerContext ctx, ConstMatrix logits, const int* targets,
                                      int vocab_offset, int valid, CrossEntropyBuffers& ws) {
  const int tokens = static_cast<int>(ws.targets.extent(0));
  auto targets_host = Kokkos::create_mirror_view(ws.targets);
  for (int t = 0; t < tokens; ++t) targets_host(t) = targets[t];
  Kokkos::deep_copy(ws.targets, targets_host);
  ce_partial_max(logits, valid, ws.max);
  ctx.comm.allreduce_max(Axis::Row, ws.max.data(), ws.max.size());
  ce_partial_sumexp(logits, valid, ws.max, ws.sumexp);
  ce_partial_target(logits, ws.targets, vocab_offset, valid, ws.target);
  ctx.comm.allreduce_sum(Axis::Row, ws.sumexp.data(), ws.sumexp.size());
  ctx.comm.allreduce_sum(Axis::Row, ws.target.data(), ws.target.size());
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

}  // namespace zoptimus
