// BLAS kernel name (see blas_kernel.hpp).
#include "linalg/blas_kernel.hpp"

#ifdef ZOPTIMUS_HAVE_OPENBLAS
extern "C" char* openblas_get_corename(void);
#endif

namespace zoptimus {

std::string blas_kernel_name() {
#ifdef ZOPTIMUS_HAVE_OPENBLAS
  const char* name = openblas_get_corename();
  if (name && *name) return name;
#endif
  return "unknown";  // one token: benchmark scripts parse key=value words
}

}  // namespace zoptimus
