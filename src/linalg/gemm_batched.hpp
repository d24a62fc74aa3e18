// Strided-batched GEMM: `batch` independent row-major products C_i = alpha op(A_i) op(B_i) +
// beta C_i, where operand i starts `stride` elements after operand i-1. One cuBLAS call
// (cublasSgemmStridedBatched) on device memory; a loop of CBLAS calls on host memory. The
// device attention (kernels/attention_batched.hpp) is built on it.
#pragma once

#include <cstdint>

#include "linalg/gemm.hpp"

namespace zoptimus {

// A batch of row-major operands: the first at `data`, rows `ld` elements apart, operand i at
// data + i * stride.
struct StridedOperand {
  const float* data;
  int ld;
  std::int64_t stride;
};

struct StridedOutput {
  float* data;
  int ld;
  std::int64_t stride;
};

// Where the operands live: host memory goes to CBLAS, device memory to cuBLAS (CUDA builds;
// elsewhere a Device call is an error).
enum class GemmMemory { Host, Device };

void gemm_strided_batched(GemmMemory where, Trans ta, Trans tb, int m, int n, int k, float alpha,
                          StridedOperand a, StridedOperand b, float beta, StridedOutput c,
                          int batch);

// The memory of this build's default execution space (MemSpace).
GemmMemory default_gemm_memory();

}  // namespace zoptimus
