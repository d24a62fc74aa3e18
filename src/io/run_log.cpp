// RunLog: rank-0 HDF5 writer of the per-run log, and the serial trajectory reader.
#include "io/run_log.hpp"
#include "io/space_reserve.hpp"
#include "parallel/broadcast_string.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

#include <hdf5.h>
#include <Kokkos_Core.hpp>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/memory.hpp"
#include "parallel/collective_guard.hpp"
#include "parallel/communicator.hpp"

namespace zoptimus {
namespace detail {
namespace {

// Turns off HDF5's automatic error-stack printing for a scope: failures become one
// zoptimus::Error instead of a page of HDF5 traces on stderr.
class QuietH5Errors {
 public:
  QuietH5Errors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietH5Errors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietH5Errors(const QuietH5Errors&) = delete;
  QuietH5Errors& operator=(const QuietH5Errors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The innermost HDF5 error description (e.g. "File exists"), then clears the stack.
std::string h5_cause() {
  std::string cause;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
        if (n == 0 && e != nullptr && e->desc != nullptr) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &cause);
  H5Eclear2(H5E_DEFAULT);
  return cause.empty() ? std::string() : " (" + cause + ")";
}

hid_t check_id(hid_t id, const std::string& file, const std::string& what) {
  if (id < 0) fail("run log {}: cannot {}{}", file, what, h5_cause());
  return id;
}

void check(herr_t status, const std::string& file, const std::string& what) {
  if (status < 0) fail("run log {}: cannot {}{}", file, what, h5_cause());
}

// An owned HDF5 identifier, closed with the matching H5?close; move-only.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  // Closes now and reports the status (closing a file writes its metadata).
  herr_t release() {
    herr_t status = id_ >= 0 ? close_(id_) : 0;
    id_ = H5I_INVALID_HID;
    return status;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

Handle dataspace(int rank, const hsize_t* dims, const hsize_t* maxdims, const std::string& file) {
  return {check_id(H5Screate_simple(rank, dims, maxdims), file, "create a dataspace"), H5Sclose};
}

Handle scalar_space(const std::string& file) {
  return {check_id(H5Screate(H5S_SCALAR), file, "create a scalar dataspace"), H5Sclose};
}

Handle vlen_string_type(const std::string& file) {
  Handle t(check_id(H5Tcopy(H5T_C_S1), file, "copy the string type"), H5Tclose);
  check(H5Tset_size(t.get(), H5T_VARIABLE), file, "make a variable-length string type");
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), file, "set the UTF-8 character set");
  return t;
}

Handle open_dataset(hid_t loc, const std::string& name, const std::string& file) {
  return {check_id(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), file, "open dataset /" + name),
          H5Dclose};
}

Handle create_group(hid_t loc, const std::string& name, const std::string& file) {
  return {check_id(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), file,
                   "create group /" + name),
          H5Gclose};
}

void write_attribute(hid_t loc, const std::string& name, hid_t file_type, hid_t mem_type,
                     const void* value, const std::string& file) {
  if (H5Aexists(loc, name.c_str()) > 0)
    check(H5Adelete(loc, name.c_str()), file, "replace attribute " + name);
  Handle space = scalar_space(file);
  Handle attr(
      check_id(H5Acreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
               file, "create attribute " + name),
      H5Aclose);
  check(H5Awrite(attr.get(), mem_type, value), file, "write attribute " + name);
}

void write_string_attribute(hid_t loc, const std::string& name, const std::string& value,
                            const std::string& file) {
  Handle type = vlen_string_type(file);
  const char* text = value.c_str();
  write_attribute(loc, name, type.get(), type.get(), &text, file);
}

void write_int_attribute(hid_t loc, const std::string& name, std::int32_t value,
                         const std::string& file) {
  write_attribute(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value, file);
}

void write_double_attribute(hid_t loc, const std::string& name, double value,
                            const std::string& file) {
  write_attribute(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, file);
}

// Reads a string attribute (variable- or fixed-length); false if it is absent.
bool read_string_attribute(hid_t loc, const std::string& name, std::string& out,
                           const std::string& file) {
  if (H5Aexists(loc, name.c_str()) <= 0) return false;
  Handle attr(check_id(H5Aopen(loc, name.c_str(), H5P_DEFAULT), file, "open attribute " + name),
              H5Aclose);
  Handle type(check_id(H5Aget_type(attr.get()), file, "read the type of attribute " + name),
              H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING)
    fail("run log {}: attribute '{}' is not a string", file, name);
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem = vlen_string_type(file);
    char* text = nullptr;
    check(H5Aread(attr.get(), mem.get(), &text), file, "read attribute " + name);
    out = text != nullptr ? text : "";
    H5free_memory(text);
  } else {
    const std::size_t size = H5Tget_size(type.get());
    std::string buffer(size, '\0');
    check(H5Aread(attr.get(), type.get(), buffer.data()), file, "read attribute " + name);
    out = buffer.substr(0, buffer.find('\0'));
  }
  return true;
}

bool read_int_attribute(hid_t loc, const std::string& name, std::int64_t& out,
                        const std::string& file) {
  if (H5Aexists(loc, name.c_str()) <= 0) return false;
  Handle attr(check_id(H5Aopen(loc, name.c_str(), H5P_DEFAULT), file, "open attribute " + name),
              H5Aclose);
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &out), file, "read attribute " + name);
  return true;
}

// Rows per chunk of an extendible dataset: about 64 KiB of float64 per chunk, at most 1024 rows.
hsize_t chunk_rows(hsize_t cols) {
  return std::clamp<hsize_t>(8192 / std::max<hsize_t>(cols, 1), 1, 1024);
}

// An empty extendible dataset: 1D [0] when cols == 0, else 2D [0, cols]. Uncompressed chunks
// never move once written, which keeps a log cut off between flushes readable.
void create_extendible(hid_t loc, const std::string& group, const std::string& name,
                       hid_t file_type, hsize_t cols, const std::string& file) {
  const int rank = cols == 0 ? 1 : 2;
  const hsize_t dims[2] = {0, cols};
  const hsize_t maxdims[2] = {H5S_UNLIMITED, cols};
  const hsize_t chunk[2] = {chunk_rows(cols), cols};
  Handle space = dataspace(rank, dims, maxdims, file);
  Handle dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), file, "create a dataset property list"),
              H5Pclose);
  check(H5Pset_chunk(dcpl.get(), rank, chunk), file,
        "set the chunk shape of /" + group + "/" + name);
  Handle dset(check_id(H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                  dcpl.get(), H5P_DEFAULT),
                       file, "create dataset /" + group + "/" + name),
              H5Dclose);
}

// Appends `rows` rows to an extendible dataset (1D, or 2D with its fixed column count) and
// returns the row count before the append.
hsize_t append_rows(hid_t file_id, const std::string& name, hid_t mem_type, const void* data,
                    hsize_t rows, const std::string& file) {
  Handle dset = open_dataset(file_id, name, file);
  Handle space(check_id(H5Dget_space(dset.get()), file, "get the dataspace of /" + name), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 1 || rank > 2) fail("run log {}: dataset /{} has rank {}", file, name, rank);
  hsize_t dims[2] = {0, 1};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  const hsize_t old_rows = dims[0];
  if (rows == 0) return old_rows;
  const hsize_t new_dims[2] = {old_rows + rows, dims[1]};
  check(H5Dset_extent(dset.get(), new_dims), file, "extend dataset /" + name);
  Handle file_space(check_id(H5Dget_space(dset.get()), file, "get the dataspace of /" + name),
                    H5Sclose);
  const hsize_t start[2] = {old_rows, 0};
  const hsize_t count[2] = {rows, dims[1]};
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), file,
        "select rows of /" + name);
  Handle mem_space = dataspace(rank, count, nullptr, file);
  check(H5Dwrite(dset.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, data), file,
        "write dataset /" + name);
  return old_rows;
}

// A whole 1D or 2D dataset, converted to T; `cols` is 0 for 1D.
template <class T>
std::vector<T> read_dataset(hid_t file_id, const std::string& name, hid_t mem_type,
                            int expected_rank, hsize_t& rows, hsize_t& cols,
                            const std::string& file) {
  if (H5Lexists(file_id, name.c_str(), H5P_DEFAULT) <= 0)
    fail("run log {}: dataset /{} is missing", file, name);
  Handle dset = open_dataset(file_id, name, file);
  Handle space(check_id(H5Dget_space(dset.get()), file, "get the dataspace of /" + name), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank != expected_rank)
    fail("run log {}: dataset /{} has rank {}, expected {}", file, name, rank, expected_rank);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  rows = dims[0];
  cols = rank == 2 ? dims[1] : 0;
  std::vector<T> values(rows * std::max<hsize_t>(cols, 1));
  if (!values.empty())
    check(H5Dread(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), file,
          "read dataset /" + name);
  return values;
}

template <class T>
std::vector<T> read_1d(hid_t file_id, const std::string& name, hid_t mem_type,
                       const std::string& file) {
  hsize_t rows = 0, cols = 0;
  return read_dataset<T>(file_id, name, mem_type, 1, rows, cols, file);
}

template <class T>
struct H5Types;
template <>
struct H5Types<std::int64_t> {
  static hid_t file() { return H5T_STD_I64LE; }
  static hid_t mem() { return H5T_NATIVE_INT64; }
};
template <>
struct H5Types<double> {
  static hid_t file() { return H5T_IEEE_F64LE; }
  static hid_t mem() { return H5T_NATIVE_DOUBLE; }
};

// A [world_size] per-rank dataset with min / avg / max attributes over its non-NaN entries.
template <class T>
void write_per_rank(hid_t group, const std::string& name, const std::vector<T>& values,
                    const std::string& file) {
  const hsize_t dims[1] = {values.size()};
  Handle space = dataspace(1, dims, nullptr, file);
  Handle dset(check_id(H5Dcreate2(group, name.c_str(), H5Types<T>::file(), space.get(), H5P_DEFAULT,
                                  H5P_DEFAULT, H5P_DEFAULT),
                       file, "create dataset /ranks/" + name),
              H5Dclose);
  check(H5Dwrite(dset.get(), H5Types<T>::mem(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), file,
        "write dataset /ranks/" + name);
  T lo{}, hi{};
  double sum = 0.0;
  std::size_t count = 0;
  for (const T& v : values) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(v)) continue;
    }
    lo = count == 0 ? v : std::min(lo, v);
    hi = count == 0 ? v : std::max(hi, v);
    sum += static_cast<double>(v);
    ++count;
  }
  double avg = count > 0 ? sum / static_cast<double>(count) : std::nan("");
  if constexpr (std::is_floating_point_v<T>) {
    if (count == 0) lo = hi = std::numeric_limits<T>::quiet_NaN();
  }
  write_attribute(dset.get(), "min", H5Types<T>::file(), H5Types<T>::mem(), &lo, file);
  write_attribute(dset.get(), "avg", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &avg, file);
  write_attribute(dset.get(), "max", H5Types<T>::file(), H5Types<T>::mem(), &hi, file);
}

std::string iso_utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

// Every rank's hostname, in rank order, on rank 0 (empty elsewhere). Collective.
std::vector<std::string> gather_hostnames(MPI_Comm comm) {
  constexpr int kLen = 256;
  std::array<char, kLen> local{};
  gethostname(local.data(), kLen - 1);
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::vector<char> all(rank == 0 ? static_cast<std::size_t>(kLen) * size : 0);
  MPI_Gather(local.data(), kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, 0, comm);
  std::vector<std::string> names;
  for (int r = 0; rank == 0 && r < size; ++r) names.emplace_back(all.data() + r * kLen);
  return names;
}

// The sorted union over ranks of the figure names, on every rank. Collective.
std::vector<std::string> union_of_names(MPI_Comm comm,
                                        const std::map<std::string, double>& figures) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::string local;  // names separated by '\0'
  for (const auto& entry : figures) local += entry.first + '\0';
  int length = static_cast<int>(local.size());
  std::vector<int> lengths(size), displs(size, 0);
  MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, comm);
  for (int r = 1; r < size; ++r) displs[r] = displs[r - 1] + lengths[r - 1];
  std::string all(rank == 0 ? static_cast<std::size_t>(displs[size - 1] + lengths[size - 1]) : 0,
                  '\0');
  MPI_Gatherv(local.data(), length, MPI_CHAR, all.data(), lengths.data(), displs.data(), MPI_CHAR,
              0, comm);
  std::string joined;
  if (rank == 0) {
    std::set<std::string> names;
    for (std::size_t begin = 0; begin < all.size();) {
      const std::size_t end = all.find('\0', begin);
      names.insert(all.substr(begin, end - begin));
      begin = end + 1;
    }
    for (const auto& name : names) joined += name + '\0';
  }
  broadcast_string(joined, 0, comm);
  std::vector<std::string> names;
  for (std::size_t begin = 0; begin < joined.size();) {
    const std::size_t end = joined.find('\0', begin);
    names.push_back(joined.substr(begin, end - begin));
    begin = end + 1;
  }
  return names;
}

constexpr std::array<const char*, 6> kTimeFields = {"step_seconds",   "forward_seconds",
                                                    "comm_seconds",   "rng_seconds",
                                                    "update_seconds", "io_seconds"};

std::array<double, 6> time_fields(const StepRecord& r) {
  return {r.step_seconds, r.forward_seconds, r.comm_seconds,
          r.rng_seconds,  r.update_seconds,  r.io_seconds};
}

void set_time_fields(StepRecord& r, const std::array<double, 6>& t) {
  r.step_seconds = t[0];
  r.forward_seconds = t[1];
  r.comm_seconds = t[2];
  r.rng_seconds = t[3];
  r.update_seconds = t[4];
  r.io_seconds = t[5];
}

constexpr std::array<const char*, 3> kPerturbFields = {"loss_plus", "loss_minus", "projected_grad"};

}  // namespace
}  // namespace detail

// Room kept free for closing the log (its pending metadata) on a file system that fills up.
constexpr std::int64_t kCloseReserveBytes = 256 * 1024;

struct RunLog::Impl {
  struct Eval {
    std::int64_t step;
    double loss, accuracy;
  };

  Communicator comm;
  int rank = 0;
  int size = 1;
  std::string path;
  int n_perturb = 1;
  std::chrono::steady_clock::time_point start;
  bool finished = false;

  // Rank 0 only.
  detail::Handle file;
  SpaceReserve reserve;  // given back before the file is closed (space_reserve.hpp)
  std::vector<StepRecord> pending;
  std::vector<Eval> pending_evals;

  void create(const Config& config, const std::string& mesh_description,
              const std::vector<std::string>& hostnames, bool overwrite);
  void write_pending();
  void write_ranks(const std::vector<std::int64_t>& ints, const std::vector<double>& doubles,
                   const std::vector<std::string>& figure_names);
};

void RunLog::Impl::create(const Config& config, const std::string& mesh_description,
                          const std::vector<std::string>& hostnames, bool overwrite) {
  namespace fs = std::filesystem;
  using detail::Handle;
  if (n_perturb < 1) fail("run log {}: optim.n_perturb = {} must be at least 1", path, n_perturb);
  const fs::path target(path);
  if (!overwrite && fs::exists(target))
    fail("run log {} already exists; remove it or choose another io.out_dir", path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      fail("run log {}: cannot create directory {}: {}", path, target.parent_path().string(),
           ec.message());
  }
  file = Handle(detail::check_id(H5Fcreate(path.c_str(), overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL,
                                           H5P_DEFAULT, H5P_DEFAULT),
                                 path, "create the file"),
                H5Fclose);
  const hid_t f = file.get();

  std::vector<std::string> hosts;
  for (const auto& h : hostnames)
    if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(h);
  std::string host_list, overrides;
  for (const auto& h : hosts) host_list += (host_list.empty() ? "" : ",") + h;
  for (const auto& o : config.overrides) overrides += o + "\n";

  const std::vector<std::pair<const char*, std::string>> strings = {
      {"format", "zoptimus-runlog"},
      {"deck", config.effective_toml},
      {"deck_original", config.deck_text},
      {"deck_path", config.deck_path},
      {"overrides", overrides},
      {"mesh", mesh_description},
      {"backend", Kokkos::DefaultExecutionSpace::name()},
      {"hostname", hostnames.empty() ? std::string() : hostnames.front()},
      {"hosts", host_list},
      {"version", build_info::kVersion},
      {"git_hash", build_info::kGitHash},
      {"build_type", build_info::kBuildType},
      {"compiler", build_info::kCompiler},
      {"kokkos", build_info::kKokkos},
      {"blas", build_info::kBlas},
      {"hdf5", build_info::kHdf5},
      {"start_time", detail::iso_utc_now()},
  };
  for (const auto& [name, value] : strings) detail::write_string_attribute(f, name, value, path);
  detail::write_int_attribute(f, "format_version", kFormatVersion, path);
  detail::write_int_attribute(f, "world_size", size, path);
  detail::write_int_attribute(f, "n_hosts", static_cast<std::int32_t>(hosts.size()), path);

  Handle steps = detail::create_group(f, "steps", path);
  detail::write_int_attribute(steps.get(), "n_perturb", n_perturb, path);
  const hsize_t np = static_cast<hsize_t>(n_perturb);
  detail::create_extendible(steps.get(), "steps", "step", H5T_STD_I64LE, 0, path);
  detail::create_extendible(steps.get(), "steps", "seed", H5T_STD_U64LE, 0, path);
  detail::create_extendible(steps.get(), "steps", "lr", H5T_IEEE_F64LE, 0, path);
  detail::create_extendible(steps.get(), "steps", "skipped", H5T_STD_I8LE, 0, path);
  for (const char* name : detail::kTimeFields)
    detail::create_extendible(steps.get(), "steps", name, H5T_IEEE_F64LE, 0, path);
  for (const char* name : detail::kPerturbFields)
    detail::create_extendible(steps.get(), "steps", name, H5T_IEEE_F64LE, np, path);
  detail::create_extendible(steps.get(), "steps", "active_layers", H5T_STD_I32LE, 0, path);
  detail::create_extendible(steps.get(), "steps", "anderson_coeffs", H5T_IEEE_F64LE, 0, path);
  for (const char* name : {"active_layers_offsets", "anderson_coeffs_offsets"}) {
    detail::create_extendible(steps.get(), "steps", name, H5T_STD_I64LE, 0, path);
    const std::int64_t zero = 0;
    detail::append_rows(f, std::string("steps/") + name, H5T_NATIVE_INT64, &zero, 1, path);
  }

  Handle eval = detail::create_group(f, "eval", path);
  detail::create_extendible(eval.get(), "eval", "step", H5T_STD_I64LE, 0, path);
  detail::create_extendible(eval.get(), "eval", "loss", H5T_IEEE_F64LE, 0, path);
  detail::create_extendible(eval.get(), "eval", "accuracy", H5T_IEEE_F64LE, 0, path);

  detail::check(H5Fflush(f, H5F_SCOPE_GLOBAL), path, "flush the file");
}

void RunLog::Impl::write_pending() {
  // A write that fails for want of space leaves HDF5's metadata cache unable to close the
  // file (and the library crashes at exit): stop while the reserve still holds room to close.
  struct statvfs st {};
  const double need = 65536.0 + 1024.0 * static_cast<double>(pending.size() + pending_evals.size());
  if (::statvfs(std::filesystem::absolute(path).parent_path().c_str(), &st) == 0 &&
      static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize) < need) {
    reserve.release();
    const herr_t closed = file.release();
    fail(
        "run log {}: the file system is full ({:.0f} KiB free); the log was closed{} without "
        "the last {} step record(s)",
        path, static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize) / 1024.0,
        closed < 0 ? " (the close failed too)" : "", pending.size());
  }
  const hid_t f = file.get();
  // Taken out first: after a failed write the records are reported lost, not written twice.
  std::vector<StepRecord> records = std::move(pending);
  std::vector<Eval> evals = std::move(pending_evals);
  pending.clear();
  pending_evals.clear();
  const hsize_t k = records.size();

  if (k > 0) {
    // Ragged rows first, then their offsets, then the per-step fields: a reader of a log cut
    // off mid-flush keeps the prefix that every dataset covers.
    std::vector<std::int32_t> layers;
    std::vector<double> coeffs;
    std::vector<std::int64_t> layer_ends, coeff_ends;
    for (const auto& r : records) {
      layers.insert(layers.end(), r.active_layers.begin(), r.active_layers.end());
      coeffs.insert(coeffs.end(), r.anderson_coeffs.begin(), r.anderson_coeffs.end());
      layer_ends.push_back(static_cast<std::int64_t>(layers.size()));
      coeff_ends.push_back(static_cast<std::int64_t>(coeffs.size()));
    }
    const auto layer_base = static_cast<std::int64_t>(detail::append_rows(
        f, "steps/active_layers", H5T_NATIVE_INT32, layers.data(), layers.size(), path));
    const auto coeff_base = static_cast<std::int64_t>(detail::append_rows(
        f, "steps/anderson_coeffs", H5T_NATIVE_DOUBLE, coeffs.data(), coeffs.size(), path));
    for (auto& e : layer_ends) e += layer_base;
    for (auto& e : coeff_ends) e += coeff_base;
    detail::append_rows(f, "steps/active_layers_offsets", H5T_NATIVE_INT64, layer_ends.data(), k,
                        path);
    detail::append_rows(f, "steps/anderson_coeffs_offsets", H5T_NATIVE_INT64, coeff_ends.data(), k,
                        path);

    const std::size_t np = static_cast<std::size_t>(n_perturb);
    for (std::size_t field = 0; field < detail::kPerturbFields.size(); ++field) {
      std::vector<double> block;
      block.reserve(k * np);
      for (const auto& r : records) {
        const auto& v = field == 0 ? r.loss_plus : field == 1 ? r.loss_minus : r.projected_grad;
        block.insert(block.end(), v.begin(), v.end());
      }
      detail::append_rows(f, std::string("steps/") + detail::kPerturbFields[field],
                          H5T_NATIVE_DOUBLE, block.data(), k, path);
    }
    for (std::size_t field = 0; field < detail::kTimeFields.size(); ++field) {
      std::vector<double> column;
      for (const auto& r : records) column.push_back(detail::time_fields(r)[field]);
      detail::append_rows(f, std::string("steps/") + detail::kTimeFields[field], H5T_NATIVE_DOUBLE,
                          column.data(), k, path);
    }
    std::vector<double> lr;
    std::vector<std::int8_t> skipped;
    std::vector<std::uint64_t> seed;
    std::vector<std::int64_t> step;
    for (const auto& r : records) {
      lr.push_back(r.lr);
      skipped.push_back(r.skipped ? 1 : 0);
      seed.push_back(r.seed);
      step.push_back(r.step);
    }
    detail::append_rows(f, "steps/lr", H5T_NATIVE_DOUBLE, lr.data(), k, path);
    detail::append_rows(f, "steps/skipped", H5T_NATIVE_INT8, skipped.data(), k, path);
    detail::append_rows(f, "steps/seed", H5T_NATIVE_UINT64, seed.data(), k, path);
    detail::append_rows(f, "steps/step", H5T_NATIVE_INT64, step.data(), k, path);
  }

  if (!evals.empty()) {
    std::vector<std::int64_t> step;
    std::vector<double> loss, accuracy;
    for (const auto& e : evals) {
      step.push_back(e.step);
      loss.push_back(e.loss);
      accuracy.push_back(e.accuracy);
    }
    const hsize_t n = evals.size();
    detail::append_rows(f, "eval/loss", H5T_NATIVE_DOUBLE, loss.data(), n, path);
    detail::append_rows(f, "eval/accuracy", H5T_NATIVE_DOUBLE, accuracy.data(), n, path);
    detail::append_rows(f, "eval/step", H5T_NATIVE_INT64, step.data(), n, path);
  }
  detail::check(H5Fflush(f, H5F_SCOPE_GLOBAL), path, "flush the file");
}

namespace {
constexpr int kPairs = kAxisCount * kCommKindCount;
constexpr int kIntsPerRank = 3 * kPairs + 1;  // sent, recv, calls per pair; peak RSS
}  // namespace

void RunLog::Impl::write_ranks(const std::vector<std::int64_t>& ints,
                               const std::vector<double>& doubles,
                               const std::vector<std::string>& figure_names) {
  const hid_t f = file.get();
  detail::Handle group = detail::create_group(f, "ranks", path);
  const std::size_t doubles_per_rank = kPairs + figure_names.size();
  auto int_column = [&](int index) {
    std::vector<std::int64_t> column(size);
    for (int r = 0; r < size; ++r)
      column[r] = ints[static_cast<std::size_t>(r) * kIntsPerRank + index];
    return column;
  };
  auto double_column = [&](std::size_t index) {
    std::vector<double> column(size);
    for (int r = 0; r < size; ++r) column[r] = doubles[r * doubles_per_rank + index];
    return column;
  };
  std::set<std::string> builtin = {"peak_rss_bytes"};
  for (int p = 0; p < kPairs; ++p) {
    const auto name = CommStats::name(static_cast<Axis>(p / kCommKindCount),
                                      static_cast<CommKind>(p % kCommKindCount));
    detail::write_per_rank(group.get(), name + "_bytes_sent", int_column(3 * p), path);
    detail::write_per_rank(group.get(), name + "_bytes_recv", int_column(3 * p + 1), path);
    detail::write_per_rank(group.get(), name + "_calls", int_column(3 * p + 2), path);
    detail::write_per_rank(group.get(), name + "_seconds", double_column(p), path);
    for (const char* suffix : {"_bytes_sent", "_bytes_recv", "_calls", "_seconds"})
      builtin.insert(name + suffix);
  }
  detail::write_per_rank(group.get(), "peak_rss_bytes", int_column(3 * kPairs), path);
  for (std::size_t i = 0; i < figure_names.size(); ++i) {
    const std::string& name = figure_names[i];
    if (name.empty() || name == "." || name.find('/') != std::string::npos)
      fail("run log {}: per-rank figure name '{}' is not a valid dataset name (no '/', not empty)",
           path, name);
    if (builtin.count(name) != 0)
      fail("run log {}: per-rank figure '{}' clashes with the built-in dataset /ranks/{}", path,
           name, name);
    detail::write_per_rank(group.get(), name, double_column(kPairs + i), path);
  }
}

RunLog::RunLog(const std::string& path, const Config& config, const std::string& mesh_description,
               MPI_Comm world, bool overwrite)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.comm = Communicator::duplicate(world);
  s.rank = s.comm.rank();
  s.size = s.comm.size();
  s.path = path;
  s.n_perturb = config.optim.n_perturb;
  s.start = std::chrono::steady_clock::now();
  const std::vector<std::string> hostnames = detail::gather_hostnames(s.comm);
  run_collectively(s.comm, [&] {
    if (s.rank != 0) return;
    detail::QuietH5Errors quiet;
    // The reserve first: on a file system without room for it, no HDF5 file is begun.
    s.reserve = SpaceReserve(path, kCloseReserveBytes);
    try {
      s.create(config, mesh_description, hostnames, overwrite);
    } catch (...) {
      s.reserve.release();
      s.file.reset();
      throw;
    }
  });
}

RunLog::~RunLog() {
  if (!impl_ || impl_->finished || !impl_->file.valid()) return;
  detail::QuietH5Errors quiet;
  try {
    impl_->write_pending();
  } catch (const std::exception& e) {
    log::warn("run log {}: records lost when closing: {}", impl_->path, e.what());
  }
  impl_->reserve.release();  // room for the metadata the close writes
  if (impl_->file.release() < 0)
    log::warn("run log {}: closing the file failed{}", impl_->path, detail::h5_cause());
}

RunLog::RunLog(RunLog&&) noexcept = default;
RunLog& RunLog::operator=(RunLog&&) noexcept = default;

const std::string& RunLog::path() const {
  return impl_->path;
}
int RunLog::n_perturb() const {
  return impl_->n_perturb;
}

void RunLog::append(const StepRecord& r) {
  ZOPTIMUS_ASSERT(impl_);
  Impl& s = *impl_;
  if (s.rank != 0) return;
  if (s.finished || !s.file.valid()) fail("run log {}: append after finish()", s.path);
  const auto np = static_cast<std::size_t>(s.n_perturb);
  const std::pair<const char*, const std::vector<double>*> per_perturbation[] = {
      {"loss_plus", &r.loss_plus},
      {"loss_minus", &r.loss_minus},
      {"projected_grad", &r.projected_grad}};
  for (const auto& [name, values] : per_perturbation)
    if (values->size() != np)
      fail(
          "run log {}: step {}: {} has {} values, expected one per perturbation "
          "(optim.n_perturb = {})",
          s.path, r.step, name, values->size(), np);
  s.pending.push_back(r);
  if (s.pending.size() >= static_cast<std::size_t>(kFlushEvery)) flush();
}

void RunLog::add_eval(std::int64_t step, double loss, double accuracy) {
  ZOPTIMUS_ASSERT(impl_);
  Impl& s = *impl_;
  if (s.rank != 0) return;
  if (s.finished || !s.file.valid()) fail("run log {}: add_eval after finish()", s.path);
  s.pending_evals.push_back({step, loss, accuracy});
}

void RunLog::flush() {
  ZOPTIMUS_ASSERT(impl_);
  Impl& s = *impl_;
  if (s.rank != 0 || s.finished || !s.file.valid()) return;
  detail::QuietH5Errors quiet;
  s.write_pending();
}

void RunLog::finish(const CommStats& stats, const std::map<std::string, double>& per_rank_figures) {
  ZOPTIMUS_ASSERT(impl_);
  Impl& s = *impl_;
  if (s.finished)
    fail_on_all_ranks(s.comm, fmt::format("run log {}: finish() called twice", s.path));
  s.finished = true;  // whatever happens below, the destructor must not write again

  std::vector<std::int64_t> ints;
  std::vector<double> doubles;
  for (int p = 0; p < kPairs; ++p) {
    const CommCounter& c =
        stats.at(static_cast<Axis>(p / kCommKindCount), static_cast<CommKind>(p % kCommKindCount));
    ints.push_back(c.bytes_sent);
    ints.push_back(c.bytes_recv);
    ints.push_back(c.calls);
    doubles.push_back(c.seconds);
  }
  ints.push_back(peak_rss_bytes());
  const std::vector<std::string> names = detail::union_of_names(s.comm, per_rank_figures);
  for (const auto& name : names) {
    const auto it = per_rank_figures.find(name);
    doubles.push_back(it != per_rank_figures.end() ? it->second
                                                   : std::numeric_limits<double>::quiet_NaN());
  }
  std::vector<std::int64_t> all_ints(s.rank == 0 ? ints.size() * s.size : 0);
  std::vector<double> all_doubles(s.rank == 0 ? doubles.size() * s.size : 0);
  MPI_Gather(ints.data(), static_cast<int>(ints.size()), MPI_INT64_T, all_ints.data(),
             static_cast<int>(ints.size()), MPI_INT64_T, 0, s.comm);
  MPI_Gather(doubles.data(), static_cast<int>(doubles.size()), MPI_DOUBLE, all_doubles.data(),
             static_cast<int>(doubles.size()), MPI_DOUBLE, 0, s.comm);

  run_collectively(s.comm, [&] {
    if (s.rank != 0) return;
    detail::QuietH5Errors quiet;
    if (!s.file.valid()) fail("run log {}: the file is not open", s.path);
    s.write_pending();
    s.write_ranks(all_ints, all_doubles, names);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - s.start).count();
    detail::write_string_attribute(s.file.get(), "end_time", detail::iso_utc_now(), s.path);
    detail::write_double_attribute(s.file.get(), "wall_seconds", wall, s.path);
    s.reserve.release();  // room for the metadata the close writes
    detail::check(s.file.release(), s.path, "close the file");
  });
}

std::vector<StepRecord> read_trajectory(const std::string& path) {
  using detail::Handle;
  detail::QuietH5Errors quiet;
  if (!std::filesystem::exists(path)) fail("run log {}: no such file", path);
  if (H5Fis_hdf5(path.c_str()) <= 0) fail("run log {}: not an HDF5 file", path);
  Handle file(detail::check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path,
                               "open the file for reading"),
              H5Fclose);
  const hid_t f = file.get();
  std::string format;
  if (!detail::read_string_attribute(f, "format", format, path) || format != "zoptimus-runlog")
    fail(
        "run log {}: not a zoptimus run log (attribute 'format' is '{}', expected "
        "'zoptimus-runlog')",
        path, format);
  std::int64_t version = 0;
  detail::read_int_attribute(f, "format_version", version, path);
  if (version != RunLog::kFormatVersion)
    fail("run log {}: format_version {} is not supported (this build reads {})", path, version,
         RunLog::kFormatVersion);

  const auto step = detail::read_1d<std::int64_t>(f, "steps/step", H5T_NATIVE_INT64, path);
  const auto seed = detail::read_1d<std::uint64_t>(f, "steps/seed", H5T_NATIVE_UINT64, path);
  const auto lr = detail::read_1d<double>(f, "steps/lr", H5T_NATIVE_DOUBLE, path);
  const auto skipped = detail::read_1d<std::int8_t>(f, "steps/skipped", H5T_NATIVE_INT8, path);
  std::size_t n = std::min({step.size(), seed.size(), lr.size(), skipped.size()});
  std::vector<std::vector<double>> times;
  for (const char* name : detail::kTimeFields) {
    times.push_back(
        detail::read_1d<double>(f, std::string("steps/") + name, H5T_NATIVE_DOUBLE, path));
    n = std::min(n, times.back().size());
  }
  std::vector<std::vector<double>> perturb;
  hsize_t np = 0;
  for (const char* name : detail::kPerturbFields) {
    hsize_t rows = 0, cols = 0;
    perturb.push_back(detail::read_dataset<double>(f, std::string("steps/") + name,
                                                   H5T_NATIVE_DOUBLE, 2, rows, cols, path));
    if (np != 0 && cols != np)
      fail("run log {}: dataset /steps/{} has {} columns, /steps/loss_plus has {}", path, name,
           cols, np);
    np = cols;
    n = std::min<std::size_t>(n, rows);
  }

  // Ragged rows: keep the prefix whose rows lie inside the flat data actually present.
  auto ragged_prefix = [&](const std::vector<std::int64_t>& offsets, std::size_t flat_size,
                           const char* name) {
    if (offsets.empty() || offsets[0] != 0)
      fail("run log {}: dataset /steps/{}_offsets must start with 0", path, name);
    std::size_t valid = std::min(n, offsets.size() - 1);
    for (std::size_t i = 0; i < valid; ++i) {
      if (offsets[i + 1] < offsets[i])
        fail("run log {}: dataset /steps/{}_offsets decreases at row {}", path, name, i + 1);
      if (static_cast<std::size_t>(offsets[i + 1]) > flat_size) {
        valid = i;
        break;
      }
    }
    return valid;
  };
  const auto layers =
      detail::read_1d<std::int32_t>(f, "steps/active_layers", H5T_NATIVE_INT32, path);
  const auto layer_offsets =
      detail::read_1d<std::int64_t>(f, "steps/active_layers_offsets", H5T_NATIVE_INT64, path);
  const auto coeffs = detail::read_1d<double>(f, "steps/anderson_coeffs", H5T_NATIVE_DOUBLE, path);
  const auto coeff_offsets =
      detail::read_1d<std::int64_t>(f, "steps/anderson_coeffs_offsets", H5T_NATIVE_INT64, path);
  n = ragged_prefix(layer_offsets, layers.size(), "active_layers");
  n = ragged_prefix(coeff_offsets, coeffs.size(), "anderson_coeffs");

  std::vector<StepRecord> records(n);
  for (std::size_t i = 0; i < n; ++i) {
    StepRecord& r = records[i];
    r.step = step[i];
    r.seed = seed[i];
    r.lr = lr[i];
    r.skipped = skipped[i] != 0;
    std::array<double, 6> t{};
    for (std::size_t j = 0; j < t.size(); ++j) t[j] = times[j][i];
    detail::set_time_fields(r, t);
    auto row = [&](const std::vector<double>& block) {
      return std::vector<double>(block.begin() + i * np, block.begin() + (i + 1) * np);
    };
    r.loss_plus = row(perturb[0]);
    r.loss_minus = row(perturb[1]);
    r.projected_grad = row(perturb[2]);
    r.active_layers.assign(layers.begin() + layer_offsets[i],
                           layers.begin() + layer_offsets[i + 1]);
    r.anderson_coeffs.assign(coeffs.begin() + coeff_offsets[i],
                             coeffs.begin() + coeff_offsets[i + 1]);
  }
  return records;
}

}  // namespace zoptimus
