// DeviceContext: creation and ordered teardown of the execution resources.
#include "core/device_context.hpp"

#if defined(ZOPTIMUS_HAVE_CUDA) && defined(KOKKOS_ENABLE_CUDA)
#include <cuda_runtime.h>
#endif

#include "core/error.hpp"

namespace zoptimus {
namespace {

DeviceContext* g_current = nullptr;

}  // namespace

DeviceContext::DeviceContext() {
  if (!Kokkos::is_initialized()) fail("internal error: DeviceContext needs Kokkos initialised");
  if (g_current) fail("internal error: a second DeviceContext in one process");
  copy_ = compute_;
#if defined(ZOPTIMUS_HAVE_CUDA) && defined(KOKKOS_ENABLE_CUDA)
  // A stream of its own so that transfers can overlap the compute instance's kernels.
  cudaStream_t stream = nullptr;
  const cudaError_t st = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (st != cudaSuccess)
    fail("cudaStreamCreate for the copy instance failed: {}", cudaGetErrorString(st));
  copy_stream_ = stream;
  copy_ = Kokkos::Cuda(stream);
#endif
  g_current = this;
}

DeviceContext::~DeviceContext() {
  release();
  if (g_current == this) g_current = nullptr;
}

void DeviceContext::release() {
  while (!resources_.empty()) resources_.pop_back();  // newest first
  if (copy_stream_) {
    copy_.fence();
    copy_ = compute_;  // drop the instance before its stream
#if defined(ZOPTIMUS_HAVE_CUDA) && defined(KOKKOS_ENABLE_CUDA)
    cudaStreamDestroy(static_cast<cudaStream_t>(copy_stream_));
#endif
    copy_stream_ = nullptr;
  }
}

DeviceContext& DeviceContext::current() {
  if (!g_current)
    fail("internal error: no DeviceContext (the Runtime creates it after Kokkos::initialize)");
  return *g_current;
}

bool DeviceContext::exists() {
  return g_current != nullptr;
}

}  // namespace zoptimus
