// ParameterStore implementation.
#include "model/parameter_store.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "kernels/philox_normal.hpp"
#include "kernels/philox_normal_batch.hpp"

namespace zoptimus {

namespace {
std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}
}  // namespace

std::int64_t TensorInfo::local_rows() const {
  return ceil_div(rows, row_split.parts);
}
std::int64_t TensorInfo::local_cols() const {
  return ceil_div(cols, col_split.parts);
}

std::int64_t TensorInfo::valid_rows() const {
  return std::clamp<std::int64_t>(rows - row_offset(), 0, local_rows());
}
std::int64_t TensorInfo::valid_cols() const {
  return std::clamp<std::int64_t>(cols - col_offset(), 0, local_cols());
}

void ParameterStore::add(TensorInfo info) {
  for (const auto& t : infos_)
    if (t.name == info.name) fail("internal error: parameter '{}' added twice", info.name);
  info.id = static_cast<int>(infos_.size());
  const std::string label = "zoptimus::param::" + info.name;
  if (placement_ == ParameterPlacement::HostBlocks && info.layer >= 0) {
    host_.emplace_back(label, info.local_rows(), info.local_cols());
    host_lease_.add(WorkspaceLease::bytes_of(host_.back()));
    data_.emplace_back(host_.back().data(), info.local_rows(), info.local_cols());
  } else {
    host_.emplace_back();
    data_.emplace_back(Matrix(label, info.local_rows(), info.local_cols()));
    lease_.add(WorkspaceLease::bytes_of(data_.back()));
  }
  infos_.push_back(std::move(info));
}

void ParameterStore::restore_binding(int id) {
  const HostMasterMatrix& h = host_.at(id);
  if (h.data()) data_.at(id) = Matrix(h.data(), h.extent(0), h.extent(1));
}

const TensorInfo& ParameterStore::info(const std::string& name) const {
  for (const auto& t : infos_)
    if (t.name == name) return t;
  fail("internal error: no parameter named '{}'", name);
}

Matrix ParameterStore::data(const std::string& name) const {
  return data_.at(info(name).id);
}

void ParameterStore::initialize(std::uint64_t seed, float init_std) {
  for (const auto& t : infos_) {
    Matrix m = data_[t.id];
    const std::int64_t r0 = t.row_offset(), c0 = t.col_offset(), gcols = t.cols;
    const int vr = static_cast<int>(t.valid_rows()), vc = static_cast<int>(t.valid_cols());
    const InitKind kind = t.init;
    const std::uint64_t stream = static_cast<std::uint64_t>(t.id);
    const int cols = static_cast<int>(m.extent(1));
    if constexpr (Kokkos::SpaceAccessibility<Kokkos::DefaultHostExecutionSpace,
                                             MemSpace>::accessible) {
      // Host: batched rows, the same values as philox_normal (philox_normal_batch.hpp).
      const int chunks = row_chunks(cols);
      Kokkos::parallel_for("zoptimus::init_parameter_rows",
                           Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(
                               0, static_cast<int>(m.extent(0)) * chunks),
                           [=](const int item) {
                             const int i = item / chunks;
                             const RowChunk c =
                                 row_chunk((r0 + i) * gcols + c0, item % chunks, cols);
                             if (c.begin >= c.end) return;
                             const int valid_end = i < vr ? std::min(c.end, vc) : c.begin;
                             alignas(64) float z[kNormalBatch];
                             if (kind == InitKind::Normal && valid_end > c.begin)
                               philox_normal_batch(seed, stream, c.first_quad, z);
                             for (int j = c.begin; j < valid_end; ++j)
                               m(i, j) = kind == InitKind::Ones     ? 1.0f
                                         : kind == InitKind::Normal ? init_std * z[j - c.base]
                                                                    : 0.0f;
                             for (int j = valid_end; j < c.end; ++j) m(i, j) = 0.0f;
                           });
    } else {
      Kokkos::parallel_for(
          "zoptimus::init_parameter",
          Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {m.extent(0), m.extent(1)}),
          KOKKOS_LAMBDA(const int i, const int j) {
            float v = 0.0f;
            if (i < vr && j < vc) {
              if (kind == InitKind::Ones) v = 1.0f;
              if (kind == InitKind::Normal) {
                const std::uint64_t g = static_cast<std::uint64_t>(r0 + i) * gcols + (c0 + j);
                v = init_std * philox_normal(seed, stream, g);
              }
            }
            m(i, j) = v;
          });
    }
  }
  Kokkos::fence();
}

void ParameterStore::set_block_from_global(int id, const float* global) {
  const TensorInfo& t = infos_.at(id);
  auto host = Kokkos::create_mirror_view(data_[id]);
  const std::int64_t vr = t.valid_rows(), vc = t.valid_cols();
  for (std::int64_t i = 0; i < t.local_rows(); ++i)
    for (std::int64_t j = 0; j < t.local_cols(); ++j)
      host(i, j) =
          (i < vr && j < vc) ? global[(t.row_offset() + i) * t.cols + t.col_offset() + j] : 0.0f;
  Kokkos::deep_copy(data_[id], host);
}

std::int64_t ParameterStore::local_bytes() const {
  std::int64_t bytes = 0;
  for (const auto& m : data_) bytes += static_cast<std::int64_t>(m.size()) * sizeof(float);
  return bytes;
}

std::int64_t ParameterStore::global_count() const {
  std::int64_t n = 0;
  for (const auto& t : infos_) n += t.global_size();
  return n;
}

}  // namespace zoptimus
