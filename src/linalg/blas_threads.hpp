// Host BLAS threading: MPI ranks own the cores, so each rank's BLAS runs single-threaded
// unless the user sets OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) explicitly.
#pragma once

namespace zoptimus {

void set_default_blas_threads();
int blas_threads();

}  // namespace zoptimus
