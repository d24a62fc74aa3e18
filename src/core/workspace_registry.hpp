// WorkspaceRegistry: the bytes this rank has allocated, per purpose and memory place, now and
// at their peak. Every long-lived buffer (parameters, activations, SUMMA panels, ZO scratch)
// is registered where it is allocated, through a WorkspaceLease; the run log's and the
// benchmarks' memory figures are read from here.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "core/types.hpp"

namespace zoptimus {

// OffloadSlots: the device ring of decoder-block slots of optim.offload (model/offload/).
enum class WorkspacePurpose {
  Parameters,
  Activations,
  SummaPanels,
  ZoScratch,
  OffloadSlots,
  Other,
  kCount
};
inline constexpr int kWorkspacePurposeCount = static_cast<int>(WorkspacePurpose::kCount);

// Device: the execution space's memory (MemSpace; host memory on host builds). Host: HostSpace.
enum class MemoryPlace { Device, Host, kCount };
inline constexpr int kMemoryPlaceCount = static_cast<int>(MemoryPlace::kCount);

class WorkspaceRegistry {
 public:
  void add(WorkspacePurpose purpose, MemoryPlace place, std::int64_t bytes);  // bytes may be < 0

  std::int64_t current(WorkspacePurpose purpose, MemoryPlace place = MemoryPlace::Device) const;
  std::int64_t peak(WorkspacePurpose purpose, MemoryPlace place = MemoryPlace::Device) const;
  // All purposes together in one place; the peak is the peak of the sum.
  std::int64_t current_total(MemoryPlace place = MemoryPlace::Device) const;
  std::int64_t peak_total(MemoryPlace place = MemoryPlace::Device) const;
  // Peaks restart from the current figures.
  void reset_peaks();

  static const char* name(WorkspacePurpose purpose);  // "parameters", "summa_panels", ...

  // The registry of this process, which leases record into.
  static WorkspaceRegistry& process();

 private:
  struct Figure {
    std::int64_t current = 0, peak = 0;
  };
  void bump(Figure& f, std::int64_t bytes);
  std::array<std::array<Figure, kWorkspacePurposeCount>, kMemoryPlaceCount> by_purpose_{};
  std::array<Figure, kMemoryPlaceCount> total_{};
};

// The registration of one owner's buffers of one purpose. Copies share the registration (as
// copies of a Kokkos View share its allocation); the bytes leave the registry when the last
// copy is destroyed.
class WorkspaceLease {
 public:
  WorkspaceLease() = default;  // registers nothing
  explicit WorkspaceLease(WorkspacePurpose purpose, MemoryPlace place = MemoryPlace::Device);

  // The owner's bytes of this purpose are now `bytes` (or change by `delta`).
  void set(std::int64_t bytes);
  void add(std::int64_t delta);
  std::int64_t bytes() const { return state_ ? state_->bytes : 0; }

  // Bytes a View holds (its allocation span).
  template <class View>
  static std::int64_t bytes_of(const View& v) {
    return static_cast<std::int64_t>(v.span() * sizeof(typename View::value_type));
  }

 private:
  struct State {
    WorkspacePurpose purpose;
    MemoryPlace place;
    std::int64_t bytes = 0;
    ~State();
  };
  std::shared_ptr<State> state_;
};

}  // namespace zoptimus
