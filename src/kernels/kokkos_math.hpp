// Math functions callable in kernels: Kokkos 3.4 keeps them in Kokkos::Experimental, Kokkos
// >= 3.7 in Kokkos. `kmath::exp(x)` works with both.
#pragma once

#include <Kokkos_Core.hpp>

namespace zoptimus {
#if KOKKOS_VERSION >= 30700
namespace kmath = ::Kokkos;
#else
namespace kmath = ::Kokkos::Experimental;
#endif
}  // namespace zoptimus
