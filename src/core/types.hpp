// Kokkos type aliases used across zoptimus: where data lives and how matrices are laid out.
#pragma once

#include <Kokkos_Core.hpp>

namespace zoptimus {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;
using HostSpace = Kokkos::HostSpace;

// Row-major matrices: activations are [tokens, features], weights [in, out].
using Matrix = Kokkos::View<float**, Kokkos::LayoutRight, MemSpace>;
using ConstMatrix = Kokkos::View<const float**, Kokkos::LayoutRight, MemSpace>;
using Vector = Kokkos::View<float*, MemSpace>;
using ConstVector = Kokkos::View<const float*, MemSpace>;
using TokenVector = Kokkos::View<int*, MemSpace>;
using ConstTokenVector = Kokkos::View<const int*, MemSpace>;

using HostMatrix = Kokkos::View<float**, Kokkos::LayoutRight, HostSpace>;
using HostVector = Kokkos::View<float*, HostSpace>;

}  // namespace zoptimus
