// Element-wise loops over [rows, cols] matrices. On host memory: one work item per row and a
// plain inner loop over the contiguous columns, which the compiler vectorizes (a 2D
// MDRangePolicy's tiled loops do not). On a device: the 2D range, one thread per element.
#pragma once

#include "core/types.hpp"

namespace zoptimus {

inline constexpr bool kHostMemory =
    Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible;

// body(t, j) for every t < rows, j < cols.
template <class Body>
void for_each_element(const char* name, int rows, int cols, const Body& body) {
  if constexpr (kHostMemory) {
    Kokkos::parallel_for(name, Kokkos::RangePolicy<ExecSpace>(0, rows), [=](const int t) {
      for (int j = 0; j < cols; ++j) body(t, j);
    });
  } else {
    Kokkos::parallel_for(
        name, Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {rows, cols}), body);
  }
}

// One work item per row t < rows: host_body(t) on host memory (plain C++, may call the
// vectorized lanes:: helpers), device_body(t) on a device (a KOKKOS_LAMBDA). The choice is a
// template's discarded branch, so the host body is never compiled for the device.
template <class HostBody, class DeviceBody>
void for_each_row(const char* name, int rows, const HostBody& host_body,
                  const DeviceBody& device_body) {
  if constexpr (kHostMemory) {
    Kokkos::parallel_for(name, Kokkos::RangePolicy<ExecSpace>(0, rows), host_body);
  } else {
    Kokkos::parallel_for(name, Kokkos::RangePolicy<ExecSpace>(0, rows), device_body);
  }
}

}  // namespace zoptimus
