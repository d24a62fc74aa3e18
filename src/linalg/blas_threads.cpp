// OpenBLAS thread control.
#include "linalg/blas_threads.hpp"

#include <cstdlib>

#ifdef ZOPTIMUS_HAVE_OPENBLAS
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}
#endif

namespace zoptimus {

void set_default_blas_threads() {
#ifdef ZOPTIMUS_HAVE_OPENBLAS
  if (!std::getenv("OPENBLAS_NUM_THREADS") && !std::getenv("OMP_NUM_THREADS"))
    openblas_set_num_threads(1);
#endif
}

int blas_threads() {
#ifdef ZOPTIMUS_HAVE_OPENBLAS
  return openblas_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace zoptimus
