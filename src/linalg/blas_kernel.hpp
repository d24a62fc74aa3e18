// Which compute kernel the host BLAS runs. OpenBLAS's DYNAMIC_ARCH builds pick one per CPU at
// load time, and OPENBLAS_CORETYPE overrides the choice: the same binary runs sgemm at about
// 100 GFLOP/s with the Haswell (AVX2) kernel and about 200 with the SkylakeX/Cooperlake
// (AVX-512) kernel on a Zen 5 core. Benchmarks and run logs record it so that figures from
// different runs can be compared.
#pragma once

#include <string>

namespace zoptimus {

// The name of the kernel set the host BLAS uses ("Cooperlake", "Haswell", ...), or "unknown"
// where the library does not say (the run log's `blas` attribute names the library).
std::string blas_kernel_name();

}  // namespace zoptimus
