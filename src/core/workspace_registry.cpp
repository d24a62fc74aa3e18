// WorkspaceRegistry: byte bookkeeping per purpose and place.
#include "core/workspace_registry.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace zoptimus {

void WorkspaceRegistry::bump(Figure& f, std::int64_t bytes) {
  f.current += bytes;
  f.peak = std::max(f.peak, f.current);
}

void WorkspaceRegistry::add(WorkspacePurpose purpose, MemoryPlace place, std::int64_t bytes) {
  const int p = static_cast<int>(place), k = static_cast<int>(purpose);
  ZOPTIMUS_ASSERT(p >= 0 && p < kMemoryPlaceCount && k >= 0 && k < kWorkspacePurposeCount);
  bump(by_purpose_[p][k], bytes);
  bump(total_[p], bytes);
  ZOPTIMUS_ASSERT(by_purpose_[p][k].current >= 0);
}

std::int64_t WorkspaceRegistry::current(WorkspacePurpose purpose, MemoryPlace place) const {
  return by_purpose_[static_cast<int>(place)][static_cast<int>(purpose)].current;
}

std::int64_t WorkspaceRegistry::peak(WorkspacePurpose purpose, MemoryPlace place) const {
  return by_purpose_[static_cast<int>(place)][static_cast<int>(purpose)].peak;
}

std::int64_t WorkspaceRegistry::current_total(MemoryPlace place) const {
  return total_[static_cast<int>(place)].current;
}

std::int64_t WorkspaceRegistry::peak_total(MemoryPlace place) const {
  return total_[static_cast<int>(place)].peak;
}

void WorkspaceRegistry::reset_peaks() {
  for (auto& place : by_purpose_)
    for (Figure& f : place) f.peak = f.current;
  for (Figure& f : total_) f.peak = f.current;
}

const char* WorkspaceRegistry::name(WorkspacePurpose purpose) {
  switch (purpose) {
    case WorkspacePurpose::Parameters:
      return "parameters";
    case WorkspacePurpose::Activations:
      return "activations";
    case WorkspacePurpose::SummaPanels:
      return "summa_panels";
    case WorkspacePurpose::ZoScratch:
      return "zo_scratch";
    case WorkspacePurpose::OffloadSlots:
      return "offload_slots";
    case WorkspacePurpose::Other:
      return "other";
    case WorkspacePurpose::kCount:
      break;
  }
  return "unknown";
}

WorkspaceRegistry& WorkspaceRegistry::process() {
  // Plain counters, no device resources: a function-local static is safe at exit.
  static WorkspaceRegistry registry;
  return registry;
}

WorkspaceLease::WorkspaceLease(WorkspacePurpose purpose, MemoryPlace place)
    : state_(std::make_shared<State>()) {
  state_->purpose = purpose;
  state_->place = place;
}

void WorkspaceLease::set(std::int64_t bytes) {
  add(bytes - this->bytes());
}

void WorkspaceLease::add(std::int64_t delta) {
  if (!state_) fail("internal error: bytes added to an empty WorkspaceLease");
  if (delta == 0) return;
  WorkspaceRegistry::process().add(state_->purpose, state_->place, delta);
  state_->bytes += delta;
}

WorkspaceLease::State::~State() {
  if (bytes != 0) WorkspaceRegistry::process().add(purpose, place, -bytes);
}

}  // namespace zoptimus
