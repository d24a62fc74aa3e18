// Reduction of loss sums over the mesh and the replicas (see loss_reduction.hpp).
#include "model/layers/loss_reduction.hpp"

namespace zoptimus {

LossSums reduce_loss_sums(LayerContext ctx, const LossSums& local) {
  double v[3] = {local.sum, local.count, local.correct};
  if (ctx.two_d()) ctx.comm.allreduce_sum(Axis::Col, v, 3);
  ctx.comm.allreduce_sum(Axis::Dp, v, 3);
  return LossSums{v[0], v[1], v[2]};
}

}  // namespace zoptimus
