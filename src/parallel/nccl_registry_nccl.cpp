// NcclRegistry: NCCL communicators tied to the DeviceContext's lifetime.
#include "parallel/nccl_registry.hpp"

#include <algorithm>

namespace zoptimus {

NcclRegistry::~NcclRegistry() {
  for (auto& weak : live_)
    if (auto comms = weak.lock()) comms->destroy();
}

std::shared_ptr<NcclComms> NcclRegistry::create(const std::array<MPI_Comm, kAxisCount>& comms) {
  // Forget sets whose owners are gone, so a long run that builds many meshes stays small.
  live_.erase(std::remove_if(live_.begin(), live_.end(), [](const auto& w) { return w.expired(); }),
              live_.end());
  auto made = std::make_shared<NcclComms>(comms);
  live_.push_back(made);
  return made;
}

NcclRegistry& nccl_registry() {
  return DeviceContext::current().resource<NcclRegistry>(
      [] { return std::make_unique<NcclRegistry>(); });
}

}  // namespace zoptimus
