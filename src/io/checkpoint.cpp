// Checkpoint writer and reader (layout in checkpoint.hpp); metadata and series live in
// checkpoint_info.cpp.
#include "io/checkpoint.hpp"
#include "parallel/broadcast_string.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/utc_time.hpp"
#include "io/checkpoint_checksum.hpp"
#include "io/hdf5_handles.hpp"
#include "parallel/collective_guard.hpp"
#include "parallel/communicator.hpp"
#include "parallel/control_collectives.hpp"

namespace zoptimus {

namespace fs = std::filesystem;

namespace {

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
    h5::Dataset dataset = h5::open_dataset(group, t.name);
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

// Reads this rank's own blocks back from the file and returns their checksum share.
std::uint64_t read_back_checksum(hid_t group, const ParameterStore& store, hid_t dxpl) {
  std::uint64_t sum = 0;
  for (const auto& t : store.tensors()) {
    h5::Dataset dataset = h5::open_dataset(group, t.name);
    h5::Dataspace file_space(ZOPTIMUS_H5(H5Dget_space(dataset)));
    h5::Dataspace mem_space = memory_space(t);
    select_block(t, file_space, mem_space, t.owns_block);
    std::vector<float> block(static_cast<std::size_t>(t.local_rows() * t.local_cols()), 0.0f);
    ZOPTIMUS_H5(H5Dread(dataset, H5T_NATIVE_FLOAT, mem_space, file_space, dxpl, block.data()));
    sum += detail::block_checksum(t, block.data());
  }
  return sum;
}

std::int64_t as_attribute(std::uint64_t v) {
  std::int64_t out = 0;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

// Free space on the file system that will hold `dir` against what the file needs (the data
// plus room for HDF5's metadata and the deck), so that a full disk is reported before
// anything is written; the MPI-IO layer does not always report a failed write.
void check_free_space(const fs::path& dir, const ParameterStore& params, const ExtraStores& extra,
                      const Config& config, const std::string& path) {
  double need = 65536.0 + 2.0 * static_cast<double>(config.effective_toml.size());
  need += 4.0 * static_cast<double>(params.global_count());
  for (const auto& [name, store] : extra) need += 4.0 * static_cast<double>(store->global_count());
  // For tests of the read-back check: write into a full file system regardless.
  if (std::getenv("ZOPTIMUS_TEST_SKIP_FREE_SPACE_CHECK") != nullptr) return;
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return;  // no figure: rely on the read-back check
  const double free = static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize);
  if (free < need)
    fail(
        "cannot write checkpoint '{}': the file system of '{}' has {:.2f} MiB free, the "
        "checkpoint needs about {:.2f} MiB (free space, or lower io.keep / raise "
        "io.checkpoint_every)",
        path, dir.string(), free / 1048576.0, need / 1048576.0);
}

void write_file(const std::string& tmp, const ParameterStore& params, const Mesh& mesh,
                const Config& config, const CheckpointState& state, const std::string& created,
                const ExtraStores& extra, const std::vector<std::uint64_t>& checksums) {
  const bool root = comm_rank(mesh.world()) == 0;
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
  if (!config.run_id.empty()) h5::write_attribute(file, "run_id", config.run_id);
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
  {
    h5::Group group = h5::create_ordered_group(file, "params");
    write_store(group, params, dxpl);
    h5::write_attribute(group, detail::kChecksumAttribute, as_attribute(checksums[0]));
  }
  h5::Group optim = h5::create_ordered_group(file, "optim");
  for (const auto& [key, value] : state.text) h5::write_attribute(optim, key, value);
  for (const auto& [key, values] : state.reals)
    write_small(optim, key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values, root, dxpl);
  for (const auto& [key, values] : state.integers)
    write_small(optim, key, H5T_STD_I64LE, H5T_NATIVE_INT64, values, root, dxpl);
  for (std::size_t i = 0; i < extra.size(); ++i) {
    h5::Group group = h5::create_ordered_group(optim, extra[i].first);
    write_store(group, *extra[i].second, dxpl);
    h5::write_attribute(group, detail::kChecksumAttribute, as_attribute(checksums[i + 1]));
  }
  optim.close();
  file.close();  // the final flush: a failure here must not be published
}

// Every rank reads its own blocks back from the closed file and compares them with what it
// wrote (by checksum): a write the file system dropped is found before the file is published.
void verify_written(const std::string& tmp, const ParameterStore& params, const Mesh& mesh,
                    const ExtraStores& extra, const std::vector<std::uint64_t>& local_sums) {
  h5::PropList fapl = mpio_access(mesh.world());
  h5::File file = h5::open_file_read_only(tmp, fapl);
  h5::PropList dxpl = collective_transfer();
  std::vector<std::string> groups = {"params"};
  std::vector<const ParameterStore*> stores = {&params};
  for (const auto& [name, store] : extra)
    groups.push_back("optim/" + name), stores.push_back(store);
  std::string bad;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    h5::Group group(ZOPTIMUS_H5(H5Gopen2(file, groups[i].c_str(), H5P_DEFAULT)));
    if (read_back_checksum(group, *stores[i], dxpl) != local_sums[i] && bad.empty())
      bad = groups[i];
  }
  if (!bad.empty())
    fail(
        "the data read back from /{} differs from what rank {} wrote: the file system lost "
        "writes (disk full or I/O error)",
        bad, mesh.world_rank());
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
    const int rc = ::fsync(fd);  // the rename itself
    const int err = errno;
    ::close(fd);
    // Some file systems cannot fsync a directory (EINVAL); any other failure is real.
    if (rc != 0 && err != EINVAL && err != ENOTSUP)
      fail("checkpoint '{}': fsync of directory '{}' failed: {}", path, dir.string(),
           std::strerror(err));
  }
}

// Refuses (on every rank, before anything is written) NaN/Inf tensors, bad state names, an
// out_dir that cannot be created and a file system without room for the file.
void checks_before_writing(MPI_Comm comm, bool root, const ParameterStore& params, const Mesh& mesh,
                           const Config& config, const CheckpointState& state,
                           const ExtraStores& extra, const std::string& path) {
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
    check_free_space(dir, params, extra, config, path);
  });
}

}  // namespace

void write_checkpoint(const std::string& path, const ParameterStore& params, const Mesh& mesh,
                      const Config& config, const CheckpointState& state,
                      const ExtraStores& extra) {
  const h5::QuietErrors quiet_hdf5;  // failures become one zoptimus::Error
  const MPI_Comm comm = mesh.world();
  const bool root = comm_rank(comm) == 0;
  const std::string tmp = path + ".tmp";
  try {
    checks_before_writing(comm, root, params, mesh, config, state, extra, path);
  } catch (const AgreedError& e) {
    // Rank 0's checks are about the file system: the failure belongs to every rank.
    if (e.failing_ranks() == 1 && e.first_failing_rank() == 0) fail_on_all_ranks(comm, e.what());
    throw;
  }
  // Checksums of what is written: params, then each extra store (summed over the owners).
  std::vector<std::uint64_t> local_sums = {detail::local_store_checksum(params)};
  for (const auto& [name, store] : extra)
    local_sums.push_back(detail::local_store_checksum(*store));
  std::vector<std::uint64_t> checksums = local_sums;
  allreduce_sum(comm, checksums);
  // Parallel HDF5 needs identical metadata on every rank: take rank 0's.
  std::string meta = root ? detail::pack_state(state, utc_timestamp()) : std::string();
  broadcast_string(meta, 0, comm);
  std::string created;
  const CheckpointState agreed = detail::unpack_state(meta, created);
  try {
    run_collectively(comm, [&] {
      try {
        write_file(tmp, params, mesh, config, agreed, created, extra, checksums);
      } catch (const Error& e) {
        fail("writing checkpoint '{}' failed: {}", tmp, e.what());
      }
    });
    run_collectively(comm, [&] {
      try {
        verify_written(tmp, params, mesh, extra, local_sums);
      } catch (const Error& e) {
        fail("checkpoint '{}' was not saved: {}", path, e.what());
      }
    });
    // Only a file closed and verified on every rank gets the real name.
    run_collectively(comm, [&] {
      if (root) publish(tmp, path);
    });
  } catch (const AgreedError& e) {
    std::error_code ec;
    if (root) fs::remove(tmp, ec);  // never leave a partial file behind a clean failure
    int size = 1;
    MPI_Comm_size(comm, &size);
    throw AgreedError(fmt::format("{}; the previous checkpoint (if any) is kept", e.what()),
                      e.first_failing_rank(), e.failing_ranks(), size);
  }
}

CheckpointState read_checkpoint(const std::string& path, ParameterStore& params, const Mesh& mesh,
                                const Config& config, const ExtraStoresIn& extra) {
  const h5::QuietErrors quiet_hdf5;  // failures become one zoptimus::Error
  const MPI_Comm comm = mesh.world();
  std::string meta;
  // The checksums the writer recorded for params and each extra store asked for (0 = none).
  std::vector<std::uint64_t> expected(1 + extra.size(), 0);
  std::vector<std::int32_t> recorded(1 + extra.size(), 0);
  // Rank 0 validates everything before any rank touches tensor data; what it finds is a
  // property of the file, so the error is every rank's.
  try {
    run_collectively(comm, [&] {
      if (comm_rank(comm) != 0) return;
      const CheckpointInfo info = read_checkpoint_info(path);
      detail::check_against_model(info, config, params, extra);
      meta = detail::pack_state(info.state(), info.created);
      for (std::size_t i = 0; i < expected.size(); ++i) {
        const std::string group = i == 0 ? "params" : "optim/" + extra[i - 1].first;
        if (auto it = info.checksums.find(group); it != info.checksums.end())
          expected[i] = it->second, recorded[i] = 1;
      }
    });
  } catch (const AgreedError& e) {
    fail_on_all_ranks(comm, e.what());
  }
  broadcast_string(meta, 0, comm);
  broadcast(comm, expected, 0);
  broadcast(comm, recorded, 0);
  run_collectively(comm, [&] {
    try {
      h5::PropList fapl = mpio_access(comm);
      h5::File file = h5::open_file_read_only(path, fapl);
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
  // The data must be what the writer wrote (checksum) and usable (finite), before any step.
  std::vector<const ParameterStore*> stores = {&params};
  for (const auto& [name, store] : extra) stores.push_back(store);
  std::vector<std::uint64_t> sums(stores.size()), total(stores.size());
  std::vector<std::int64_t> bad(stores.size()), bad_total(stores.size());
  for (std::size_t i = 0; i < stores.size(); ++i) {
    sums[i] = detail::local_store_checksum(*stores[i]);
    bad[i] = 0;
    for (const auto& t : stores[i]->tensors())
      if (t.owns_block) bad[i] += count_non_finite(stores[i]->data(t.id));
  }
  total = sums;
  allreduce_sum(comm, total);
  bad_total = bad;
  allreduce_sum(comm, bad_total);
  for (std::size_t i = 0; i < stores.size(); ++i) {
    const std::string group = i == 0 ? "/params" : "/optim/" + extra[i - 1].first;
    if (recorded[i] && total[i] != expected[i])
      fail_on_all_ranks(comm, fmt::format("checkpoint '{}': the tensor data in {} does not match "
                                          "the checksum recorded when it was written (a "
                                          "damaged or incomplete file)",
                                          path, group));
    if (bad_total[i] > 0)
      fail_on_all_ranks(comm, fmt::format("checkpoint '{}': {} holds {} NaN/Inf value(s); it "
                                          "cannot be used to start a run",
                                          path, group, bad_total[i]));
  }
  std::string created;
  return detail::unpack_state(meta, created);
}

}  // namespace zoptimus
