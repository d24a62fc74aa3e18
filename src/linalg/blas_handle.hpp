// BlasHandle: this process's BLAS library state, owned by the DeviceContext and destroyed
// with it (before Kokkos finalises). CUDA builds hold the cuBLAS handle; CBLAS on the host
// has no handle, only its thread count, which attach_blas sets.
#pragma once

#include "core/device_context.hpp"

namespace zoptimus {

class BlasHandle : public DeviceResource {
 public:
  BlasHandle();
  ~BlasHandle() override;
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;

  // The cublasHandle_t on CUDA builds; nullptr on host builds.
  void* cublas() const { return cublas_; }

 private:
  void* cublas_ = nullptr;
};

// The context's handle, created on first use.
BlasHandle& blas_handle(DeviceContext& context);

// Called once after the Runtime: pins the host BLAS to one thread per rank (unless the user
// set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS) and creates the context's BLAS handle.
void attach_blas(DeviceContext& context);

}  // namespace zoptimus
