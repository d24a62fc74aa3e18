// Checkpoint writer and reader (layout in checkpoint.hpp); metadata and series live in
// checkpoint_info.cpp.
#include "io/checkpoint.hpp"
#include "parallel/broadcast_string.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "io/hdf5_handles.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus {

namespace fs = std::filesystem;

namespace {

int rank_of(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

h5::Dataspace simple_space(const std::vector<std::int64_t>& shape) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return h5::Dataspace(
      ZOPTIMUS_H5(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)));
}

// The local buffer: [local_rows, local_cols], or [local_cols] for a vector.
h5::Dataspace memory_space(const TensorInfo& t) {
  if (t.is_vector) return simple_space({t.local_cols()});
  return simple_space({t.local_rows(), t.local_cols()});
}

// Selects this rank's block in the file and the valid (non-padding) corner of its buffer,
// or nothing (a rank still joins the collective call when it has nothing to move).
void select_block(const TensorInfo& t, hid_t file_space, hid_t mem_space, bool take) {
  const hsize_t rows = static_cast<hsize_t>(t.valid_rows());
  const hsize_t cols = static_cast<hsize_t>(t.valid_cols());
  if (!take || rows == 0 || cols == 0) {
    ZOPTIMUS_H5(H5Sselect_none(file_space));
    ZOPTIMUS_H5(H5Sselect_none(mem_space));
    return;
  }
  const hsize_t zero[2] = {0, 0};
  const hsize_t offset2[2] = {static_cast<hsize_t>(t.row_offset()),
                              static_cast<hsize_t>(t.col_offset())};
  const hsize_t count2[2] = {rows, cols};
  const hsize_t* offset = t.is_vector ? offset2 + 1 : offset2;
  const hsize_t* count = t.is_vector ? count2 + 1 : count2;
  ZOPTIMUS_H5(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset, nullptr, count, nullptr));
  ZOPTIMUS_H5(H5Sselect_hyperslab(mem_space, H5S_SELECT_SET, zero, nullptr, count, nullptr));
}

// MPI-IO access with collective metadata: one rank touches the file system for metadata
// and shares it, instead of every rank reading the same headers.
h5::PropList mpio_access(MPI_Comm comm) {
  h5::PropList fapl(ZOPTIMUS_H5(H5Pcreate(H5P_FILE_ACCESS)));
  ZOPTIMUS_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  ZOPTIMUS_H5(H5Pset_all_coll_metadata_ops(fapl, true));
  ZOPTIMUS_H5(H5Pset_coll_metadata_write(fapl, true));
  return fapl;
}

h5::PropList collective_transfer() {
  h5::PropList dxpl(ZOPTIMUS_H5(H5Pcreate(H5P_DATASET_XFER)));
  ZOPTIMUS_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  return dxpl;
}

void write_store(hid_t group, const ParameterStore& store, hid_t dxpl) {
  h5::PropList dcpl(ZOPTIMUS_H5(H5Pcreate(H5P_DATASET_CREATE)));
  ZOPTIMUS_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));  // every element has an owner
  for (const auto& t : store.tensors()) {
    h5::Dataspace file_space = simple_space(detail::global_shape(t));
    h5::Dataset dataset(ZOPTIMUS_H5(H5Dcreate2(group, t.name.c_str(), H5T_IEEE_F32LE, file_space,
                                               H5P_DEFAULT, dcpl, H5P_DEFAULT)));
    h5::Dataspace mem_space = memory_space(t);
    select_block(t, file_space, mem_space, t.owns_block);
    auto host = Kokkos::create_mirror_view_and_copy(HostSpace(), store.data(t.id));
    ZOPTIMUS_H5(H5Dwrite(dataset, H5T_NATIVE_FLOAT, mem_space, file_space, dxpl, host.data()));
  }
}

void read_store(hid_t group, ParameterStore& store, hid_t dxpl) {
  for (const auto& t : store.tensors()) {
    h5::Dataset dataset(ZOPTIMUS_H5(H5Dopen2(group, t.name.c_str(), H5P_DEFAULT)));
    h5::Dataspace file_space(ZOPTIMUS_H5(H5Dget_space(dataset)));
    h5::Dataspace mem_space = memory_space(t);
    select_block(t, file_space, mem_space, true);
    Matrix block = store.data(t.id);
    auto host = Kokkos::create_mirror_view(block);
    Kokkos::deep_copy(host, 0.0f);  // vocabulary padding stays zero
    ZOPTIMUS_H5(H5Dread(dataset, H5T_NATIVE_FLOAT, mem_space, file_space, dxpl, host.data()));
    Kokkos::deep_copy(block, host);
  }
}

// A small 1-D dataset written by rank 0 (the other ranks join with empty selections).
template <class T>
void write_small(hid_t group, const std::string& name, hid_t file_type, hid_t mem_type,
                 const std::vector<T>& values, bool root, hid_t dxpl) {
  h5::Dataspace file_space = simple_space({static_cast<std::int64_t>(values.size())});
  h5::Dataspace mem_space = simple_space({static_cast<std::int64_t>(values.size())});
  h5::Dataset dataset(ZOPTIMUS_H5(H5Dcreate2(group, name.c_str(), file_type, file_space,
                                             H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)));
  if (values.empty()) return;  // no storage to write (every rank knows: the state is agreed)
  if (!root) {
    ZOPTIMUS_H5(H5Sselect_none(file_space));
    ZOPTIMUS_H5(H5Sselect_none(mem_space));
  }
  ZOPTIMUS_H5(H5Dwrite(dataset, mem_type, mem_space, file_space, dxpl, values.data()));
}

std::int64_t count_non_finite(ConstMatrix m) {
  long bad = 0;
  Kokkos::parallel_reduce(
      "zoptimus::count_non_finite",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {m.extent(0), m.extent(1)}),
      KOKKOS_LAMBDA(const int i, const int j, long& n) {
        const float v = m(i, j);
        if (!(v - v == 0.0f)) ++n;  // NaN - NaN and Inf - Inf are NaN
      },
      bad);
  return bad;
}

void check_finite(const ParameterStore& store, const std::string& group, const std::string& path,
                  int world_rank) {
  for (const auto& t : store.tensors())
    if (const std::int64_t bad = count_non_finite(store.data(t.id)); bad > 0)
      fail(
          "refusing to write checkpoint '{}': tensor '{}/{}' holds {} NaN/Inf value(s) on rank "
          "{}; nothing was written",
          path, group, t.name, bad, world_rank);
}

// Keys become HDF5 names in /optim, so they must be valid and distinct.
void check_state_names(const CheckpointState& state, const ExtraStores& extra,
                       const std::string& path) {
  std::set<std::string> used;
  auto take = [&](const std::string& what, const std::string& name) {
    if (name.empty() || name == "." || name.find('/') != std::string::npos)
      fail("checkpoint '{}': {} name '{}' is not a valid HDF5 name (non-empty, no '/')", path, what,
           name);
    if (!used.insert(name).second)
      fail("checkpoint '{}': {} name '{}' is used twice in /optim", path, what, name);
  };
  for (const auto& [key, v] : state.reals) take("optimizer state", key);
  for (const auto& [key, v] : state.integers) take("optimizer state", key);
  for (const auto& [name, store] : extra) take("extra store", name);
}

void write_file(const std::string& tmp, const ParameterStore& params, const Mesh& mesh,
                const Config& config, const CheckpointState& state, const std::string& created,
                const ExtraStores& extra) {
  const bool root = rank_of(mesh.world()) == 0;
  h5::PropList fapl = mpio_access(mesh.world());
  h5::File file(ZOPTIMUS_H5(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl)));
  h5::write_attribute(file, "format", std::string(kCheckpointFormat));
  h5::write_attribute(file, "format_version", kCheckpointFormatVersion);
  h5::write_attribute(file, "step", state.step);
  h5::write_attribute(file, "deck", config.effective_toml);
  h5::write_attribute(file, "mesh", mesh.shape().describe());
  h5::write_attribute(file, "library_version", std::string(build_info::kVersion));
  h5::write_attribute(file, "git_hash", std::string(build_info::kGitHash));
  h5::write_attribute(file, "created", created);
  {
    h5::Group model(ZOPTIMUS_H5(H5Gcreate2(file, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)));
    const ModelConfig& m = config.model;
    h5::write_attribute(model, "family", std::string(kModelFamily));
    const std::pair<const char*, int> dims[] = {
        {"vocab", m.vocab},   {"hidden", m.hidden}, {"heads", m.heads},
        {"layers", m.layers}, {"ffn", m.ffn},       {"max_positions", m.max_positions}};
    for (const auto& [name, value] : dims)
      h5::write_attribute(model, name, static_cast<std::int64_t>(value));
    h5::write_attribute(model, "activation", std::string(choice_name(m.activation)));
    h5::write_attribute(model, "layernorm_eps", m.layernorm_eps);
  }
  h5::PropList dxpl = collective_transfer();
  write_store(h5::create_ordered_group(file, "params"), params, dxpl);
  h5::Group optim = h5::create_ordered_group(file, "optim");
  for (const auto& [key, value] : state.text) h5::write_attribute(optim, key, value);
  for (const auto& [key, values] : state.reals)
    write_small(optim, key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values, root, dxpl);
  for (const auto& [key, values] : state.integers)
    write_small(optim, key, H5T_STD_I64LE, H5T_NATIVE_INT64, values, root, dxpl);
  for (const auto& [name, store] : extra)
    write_store(h5::create_ordered_group(optim, name), *store, dxpl);
  optim.close();
  file.close();  // the final flush: a failure here must not be published
}

// Makes the closed file durable, then gives it the real name (rename is atomic in POSIX).
void publish(const std::string& tmp, const std::string& path) {
  if (const int fd = ::open(tmp.c_str(), O_RDONLY); fd >= 0) {
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) fail("checkpoint '{}': fsync failed: {}", tmp, std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    fail("cannot rename checkpoint '{}' to '{}': {}", tmp, path, std::strerror(errno));
  const fs::path dir = fs::absolute(path).parent_path();
  if (const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    ::fsync(fd);  // the rename itself; best effort (not every file system supports it)
    ::close(fd);
  }
}

}  // namespace

void write_checkpoint(const std::string& path, const ParameterStore& params, const Mesh& mesh,
                      const Config& config, const CheckpointState& state,
                      const ExtraStores& extra) {
  h5::silence_errors();
  const MPI_Comm comm = mesh.world();
  const bool root = rank_of(comm) == 0;
  const std::string tmp = path + ".tmp";
  run_collectively(comm, [&] {
    check_finite(params, "/params", path, mesh.world_rank());
    for (const auto& [name, store] : extra)
      check_finite(*store, "/optim/" + name, path, mesh.world_rank());
    if (!root) return;
    check_state_names(state, extra, path);
    const fs::path dir = fs::absolute(path).parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir))
      fail("cannot write checkpoint '{}': cannot create directory '{}': {}", path, dir.string(),
           ec.message());
  });
  // Parallel HDF5 needs identical metadata on every rank: take rank 0's.
  std::string meta = root ? detail::pack_state(state, utc_now()) : std::string();
  broadcast_string(meta, 0, comm);
  std::string created;
  const CheckpointState agreed = detail::unpack_state(meta, created);
  try {
    run_collectively(comm, [&] {
      try {
        write_file(tmp, params, mesh, config, agreed, created, extra);
      } catch (const Error& e) {
        fail("writing checkpoint '{}' failed: {}", tmp, e.what());
      }
    });
  } catch (const Error&) {
    std::error_code ec;
    if (root) fs::remove(tmp, ec);  // never leave a partial file behind a clean failure
    throw;
  }
  // Only a file closed on every rank gets the real name (a failed rename keeps the .tmp).
  run_collectively(comm, [&] {
    if (root) publish(tmp, path);
  });
}

CheckpointState read_checkpoint(const std::string& path, ParameterStore& params, const Mesh& mesh,
                                const Config& config, const ExtraStoresIn& extra) {
  h5::silence_errors();
  const MPI_Comm comm = mesh.world();
  std::string meta;
  // Rank 0 validates everything before any rank touches tensor data; what it finds is a
  // property of the file, so the error is every rank's.
  try {
    run_collectively(comm, [&] {
      if (rank_of(comm) != 0) return;
      const CheckpointInfo info = read_checkpoint_info(path);
      detail::check_against_model(info, config, params, extra);
      meta = detail::pack_state(info.state(), info.created);
    });
  } catch (const AgreedError& e) {
    fail_on_all_ranks(comm, e.what());
  }
  broadcast_string(meta, 0, comm);
  run_collectively(comm, [&] {
    try {
      h5::PropList fapl = mpio_access(comm);
      h5::File file(ZOPTIMUS_H5(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl)));
      h5::PropList dxpl = collective_transfer();
      read_store(h5::Group(ZOPTIMUS_H5(H5Gopen2(file, "params", H5P_DEFAULT))), params, dxpl);
      for (const auto& [name, store] : extra) {
        const std::string group = "optim/" + name;
        read_store(h5::Group(ZOPTIMUS_H5(H5Gopen2(file, group.c_str(), H5P_DEFAULT))), *store,
                   dxpl);
      }
    } catch (const Error& e) {
      fail("checkpoint '{}': reading the tensors failed: {}", path, e.what());
    }
  });
  std::string created;
  return detail::unpack_state(meta, created);
}

}  // namespace zoptimus
