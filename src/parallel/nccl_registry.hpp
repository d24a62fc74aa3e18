// NcclRegistry: the DeviceContext's record of the live NCCL communicator sets. Collectives
// owns its NcclComms (shared_ptr) and frees them when it goes; the registry holds weak
// references and, when the DeviceContext releases its resources (before Kokkos finalises and
// before the device goes away), destroys any set still alive, so no NCCL communicator
// outlives the Runtime. NCCL builds only (nccl_registry_nccl.cpp).
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "core/device_context.hpp"
#include "parallel/nccl_comms.hpp"

namespace zoptimus {

class NcclRegistry : public DeviceResource {
 public:
  NcclRegistry() = default;
  ~NcclRegistry() override;

  // Creates the NCCL communicators of a mesh (collective, see NcclComms) and records them.
  std::shared_ptr<NcclComms> create(const std::array<MPI_Comm, kAxisCount>& comms);

 private:
  std::vector<std::weak_ptr<NcclComms>> live_;
};

// The current DeviceContext's registry, created on first use.
NcclRegistry& nccl_registry();

}  // namespace zoptimus
