// Runtime: initialises MPI then Kokkos and the DeviceContext, tears them down in reverse
// order (RAII, one per process).
#pragma once

#include <memory>

#include "core/device_context.hpp"

namespace zoptimus {

class Runtime {
 public:
  // Initialises MPI (if not already) and Kokkos (consuming --kokkos-* arguments), sets the
  // logging rank and creates the DeviceContext. Host BLAS threading and the BLAS handle
  // belong to linalg/ (attach_blas), which the caller attaches to device() afterwards.
  Runtime(int& argc, char**& argv);
  // Destroys the DeviceContext (and every resource attached to it) before Kokkos finalises.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  DeviceContext& device() { return *device_; }

 private:
  int world_rank_ = 0;
  int world_size_ = 1;
  std::unique_ptr<DeviceContext> device_;
};

}  // namespace zoptimus
