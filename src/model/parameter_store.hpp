// ParameterStore: the named global tensors of a model, each with the block this rank holds.
// Checkpoints, initialisation and the ZO optimizers iterate over this table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "core/workspace_registry.hpp"

namespace zoptimus {

// How one axis of a global tensor is divided: `parts` equal pieces (of the axis length
// rounded up to a multiple of parts, so the vocabulary can be padded), this rank taking
// piece `index`.
struct AxisSplit {
  int parts = 1;
  int index = 0;
};

enum class InitKind { Normal, Ones, Zeros };

// Where the blocks live. HostBlocks (optim.offload): the tensors of decoder layers are kept
// in host memory (pinned on CUDA builds, so that uploads can be asynchronous) and reach the
// device only through the offload ring (model/offload/); the other tensors stay in MemSpace.
enum class ParameterPlacement { Device, HostBlocks };
#if defined(KOKKOS_ENABLE_CUDA)
using HostMasterSpace = Kokkos::CudaHostPinnedSpace;
#else
using HostMasterSpace = Kokkos::HostSpace;
#endif
using HostMasterMatrix = Kokkos::View<float**, Kokkos::LayoutRight, HostMasterSpace>;

struct TensorInfo {
  std::string name;
  int id = 0;             // position in the canonical order: keys RNG streams, mesh-independent
  int layer = -1;         // decoder layer, or -1 (embeddings, final norm)
  std::int64_t rows = 1;  // global shape [rows, cols]; vectors have rows = 1
  std::int64_t cols = 1;
  bool is_vector = false;  // stored as [1, n]; global shape reported as [n]
  AxisSplit row_split, col_split;
  InitKind init = InitKind::Normal;
  bool weight_decay = true;  // false for biases and LayerNorm
  // True on exactly one rank per distinct block of the whole world (replica 0, and row or
  // column 0 along the mesh axes the tensor is replicated over): the rank that writes it.
  bool owns_block = true;

  // Local block: allocated extent (padded) and the part of it inside the global tensor.
  std::int64_t local_rows() const;
  std::int64_t local_cols() const;
  std::int64_t row_offset() const { return local_rows() * row_split.index; }
  std::int64_t col_offset() const { return local_cols() * col_split.index; }
  std::int64_t valid_rows() const;  // rows of the block that exist globally (vocab padding)
  std::int64_t valid_cols() const;
  std::int64_t global_size() const { return rows * cols; }
};

class ParameterStore {
 public:
  // purpose: what the blocks count as in the WorkspaceRegistry (a momentum buffer is ZO
  // scratch, not parameters).
  explicit ParameterStore(WorkspacePurpose purpose = WorkspacePurpose::Parameters,
                          ParameterPlacement placement = ParameterPlacement::Device)
      : placement_(placement), lease_(purpose), host_lease_(purpose, MemoryPlace::Host) {}

  // Adds a tensor; ids are assigned in insertion order, which must not depend on the mesh.
  void add(TensorInfo info);

  const std::vector<TensorInfo>& tensors() const { return infos_; }
  const TensorInfo& info(const std::string& name) const;
  Matrix data(const std::string& name) const;
  Matrix data(int id) const { return data_.at(id); }
  std::size_t size() const { return infos_.size(); }

  // Fills every local block from the seed as a function of global indices only: Normal
  // tensors get std * N(0,1) from Philox(seed, tensor id, global flat index); padding is 0.
  void initialize(std::uint64_t seed, float init_std);

  // Copies this rank's block of tensor `id` out of the whole tensor (row-major, global
  // shape) held on the host; padding is zeroed. Used by checkpoint reads and tests.
  void set_block_from_global(int id, const float* global);

  std::int64_t local_bytes() const;   // bytes held on this rank
  std::int64_t global_count() const;  // parameters in the model (no padding)

  // Host-placed tensors (ParameterPlacement::HostBlocks). data(id) of such a tensor is, at
  // rest, a view of its host master (device-accessible on CUDA: pinned and mapped); during
  // an offloaded pass the offload pipeline rebinds it to a device slot and back. Everything
  // that reads parameters between passes (checkpoints, thresholds, tests) sees the masters.
  bool on_host(int id) const { return host_.at(id).data() != nullptr; }
  HostMasterMatrix host_master(int id) const { return host_.at(id); }
  void rebind(int id, Matrix view) { data_.at(id) = view; }
  void restore_binding(int id);

 private:
  ParameterPlacement placement_;
  std::vector<TensorInfo> infos_;
  std::vector<Matrix> data_;
  std::vector<HostMasterMatrix> host_;  // empty views for device-placed tensors
  WorkspaceLease lease_;
  WorkspaceLease host_lease_;
};

}  // namespace zoptimus
