// Device memory helpers (CUDA builds): pointer kinds, stream-ordered copies, events.
#include "parallel/device_memory.hpp"

#include <cuda_runtime.h>

#include "core/error.hpp"

namespace zoptimus::detail {
namespace {

void check_cuda(cudaError_t st, const char* what) {
  if (st != cudaSuccess) fail("{} failed: {}", what, cudaGetErrorString(st));
}

}  // namespace

bool is_device_pointer(const void* p) {
  if (!p) return false;
  cudaPointerAttributes attr{};
  const cudaError_t st = cudaPointerGetAttributes(&attr, p);
  if (st != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error of an unregistered host pointer
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

void device_copy(void* dst, const void* src, std::size_t bytes, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync");
  check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

void synchronize_stream(void* stream) {
  check_cuda(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}

void* record_event(void* stream) {
  cudaEvent_t event = nullptr;
  check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
  const cudaError_t st = cudaEventRecord(event, static_cast<cudaStream_t>(stream));
  if (st != cudaSuccess) {
    cudaEventDestroy(event);
    check_cuda(st, "cudaEventRecord");
  }
  return event;
}

void wait_event(void* event) {
  auto e = static_cast<cudaEvent_t>(event);
  const cudaError_t st = cudaEventSynchronize(e);
  cudaEventDestroy(e);
  check_cuda(st, "cudaEventSynchronize");
}

void release_event(void* event) noexcept {
  auto e = static_cast<cudaEvent_t>(event);
  cudaEventSynchronize(e);
  cudaEventDestroy(e);
}

}  // namespace zoptimus::detail
