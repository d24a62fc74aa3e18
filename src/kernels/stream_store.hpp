// Non-temporal copy for host kernels that write large buffers which are read back only much
// later (the ZO pass writes W + eps z and W - eps z; the GEMM reads them after the whole
// tensor is done): streaming stores skip the read-for-ownership of the destination, a third
// of the pass's memory traffic. Plain stores where the ISA has none.
#pragma once

#include <cstdint>

#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

namespace zoptimus {

inline void stream_copy(float* dst, const float* src, int n) {
  int j = 0;
#if defined(__AVX512F__)
  constexpr int kLanes = 16;
  for (; j < n && (reinterpret_cast<std::uintptr_t>(dst + j) % 64) != 0; ++j) dst[j] = src[j];
  for (; j + kLanes <= n; j += kLanes) _mm512_stream_ps(dst + j, _mm512_loadu_ps(src + j));
#elif defined(__AVX__)
  constexpr int kLanes = 8;
  for (; j < n && (reinterpret_cast<std::uintptr_t>(dst + j) % 32) != 0; ++j) dst[j] = src[j];
  for (; j + kLanes <= n; j += kLanes) _mm256_stream_ps(dst + j, _mm256_loadu_ps(src + j));
#endif
  for (; j < n; ++j) dst[j] = src[j];
}

// Orders earlier streaming stores before later loads by any thread.
inline void stream_fence() {
#if defined(__AVX512F__) || defined(__AVX__)
  _mm_sfence();
#endif
}

}  // namespace zoptimus
