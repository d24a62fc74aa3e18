// Element-wise kernels of the transformer: bias, activation, residual.
#pragma once

#include "core/choices.hpp"
#include "core/types.hpp"

namespace zoptimus {

// y(t, j) += bias(0, j)
void add_bias(Matrix y, ConstMatrix bias);
// y = act(y + bias), fused.
void add_bias_activation(Matrix y, ConstMatrix bias, Activation act);
// x += y
void add_inplace(Matrix x, ConstMatrix y);

}  // namespace zoptimus
