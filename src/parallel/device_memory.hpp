// Device memory helpers for the communication backends that are handed device pointers
// ("nccl", "cuda-aware-mpi"). Streams and events are passed as void* (cudaStream_t,
// cudaEvent_t) so that this header stays free of CUDA and Kokkos. Defined in
// device_memory_cuda.cpp on CUDA builds; without CUDA all memory is host memory and the inline
// fallbacks below are what Collectives sees (never called with device work).
#pragma once

#include <cstddef>

namespace zoptimus::detail {

#ifdef ZOPTIMUS_HAVE_CUDA
// True for memory the GPU owns (cudaMalloc, managed); false for host memory, pinned or not.
bool is_device_pointer(const void* p);
// Copies `bytes` device bytes on `stream` and waits for the copy.
void device_copy(void* dst, const void* src, std::size_t bytes, void* stream);
// Waits for the work queued on `stream`.
void synchronize_stream(void* stream);
// An event recorded on `stream` now; wait_event waits for it and destroys it.
void* record_event(void* stream);
void wait_event(void* event);
// For destructors: waits and destroys without reporting errors.
void release_event(void* event) noexcept;
#else
inline bool is_device_pointer(const void*) {
  return false;
}
inline void device_copy(void*, const void*, std::size_t, void*) {}
inline void synchronize_stream(void*) {}
inline void* record_event(void*) {
  return nullptr;
}
inline void wait_event(void*) {}
inline void release_event(void*) noexcept {}
#endif

}  // namespace zoptimus::detail
