// BlasHandle: creation and release of the BLAS library state.
#include "linalg/blas_handle.hpp"

#include <memory>

#include "linalg/blas_threads.hpp"
#include "linalg/gemm_backend.hpp"

namespace zoptimus {

BlasHandle::BlasHandle() {
#ifdef ZOPTIMUS_HAVE_CUDA
  cublas_ = detail::create_cublas_handle();
#endif
}

BlasHandle::~BlasHandle() {
#ifdef ZOPTIMUS_HAVE_CUDA
  detail::destroy_cublas_handle(cublas_);
#endif
}

BlasHandle& blas_handle(DeviceContext& context) {
  return context.resource<BlasHandle>([] { return std::make_unique<BlasHandle>(); });
}

void attach_blas(DeviceContext& context) {
  set_default_blas_threads();
  blas_handle(context);
}

}  // namespace zoptimus
