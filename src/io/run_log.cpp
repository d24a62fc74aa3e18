// RunLog: the rank-0 HDF5 writer of the per-run log (layout: run_log_format.hpp).
#include "io/run_log.hpp"
#include "io/space_reserve.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
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
#include "core/utc_time.hpp"
#include "io/hdf5_handles.hpp"
#include "io/hdf5_series.hpp"
#include "linalg/blas_kernel.hpp"
#include "parallel/broadcast_string.hpp"
#include "parallel/collective_guard.hpp"
#include "parallel/communicator.hpp"

namespace zoptimus {
namespace detail {
namespace {

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
void write_per_rank(hid_t group, const std::string& name, const std::vector<T>& values) {
  const hsize_t dims[1] = {values.size()};
  h5::Dataspace space(ZOPTIMUS_H5(H5Screate_simple(1, dims, nullptr)));
  h5::Dataset dset(ZOPTIMUS_H5(H5Dcreate2(group, name.c_str(), H5Types<T>::file(), space,
                                          H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)));
  ZOPTIMUS_H5(H5Dwrite(dset, H5Types<T>::mem(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
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
  h5::write_attribute(dset, "min", lo);
  h5::write_attribute(dset, "avg", avg);
  h5::write_attribute(dset, "max", hi);
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

}  // namespace
}  // namespace detail

// Room kept free for closing the log (its pending metadata) on a file system that fills up.
constexpr std::int64_t kCloseReserveBytes = 256 * 1024;

namespace {

// Runs `body` (HDF5 work on rank 0); an error is reported as one message naming the log.
template <class Body>
void in_log(const std::string& path, Body&& body) {
  const h5::QuietErrors quiet_hdf5;
  try {
    body();
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.rfind("run log ", 0) == 0) throw;
    fail("run log {}: {}", path, message);
  }
}

}  // namespace

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
  int appends_since_write = 0;  // kept on every rank: all ranks know when rank 0 writes

  // Rank 0 only.
  h5::File file;
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
  file = h5::File(
      H5Fcreate(path.c_str(), overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT));
  if (!file.valid()) fail("run log {}: cannot create the file ({})", path, h5::error_message());
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
      {"blas_kernel", blas_kernel_name()},
      {"hdf5", build_info::kHdf5},
      {"start_time", utc_timestamp()},
      {"run_id", config.run_id},
  };
  for (const auto& [name, value] : strings) h5::write_attribute(f, name, value);
  h5::write_attribute(f, "format_version", static_cast<std::int32_t>(kFormatVersion));
  h5::write_attribute(f, "world_size", static_cast<std::int32_t>(size));
  h5::write_attribute(f, "n_hosts",
                      static_cast<std::int32_t>(static_cast<std::int32_t>(hosts.size())));

  h5::Group steps = h5::create_group(f, "steps");
  h5::write_attribute(steps.get(), "n_perturb", static_cast<std::int32_t>(n_perturb));
  const hsize_t np = static_cast<hsize_t>(n_perturb);
  h5::create_series(steps, "step", H5T_STD_I64LE, 0);
  h5::create_series(steps, "seed", H5T_STD_U64LE, 0);
  h5::create_series(steps, "lr", H5T_IEEE_F64LE, 0);
  h5::create_series(steps, "skipped", H5T_STD_I8LE, 0);
  for (const char* name : run_log_fields::kTimes) h5::create_series(steps, name, H5T_IEEE_F64LE, 0);
  for (const char* name : run_log_fields::kPerturb)
    h5::create_series(steps, name, H5T_IEEE_F64LE, np);
  h5::create_series(steps, "active_layers", H5T_STD_I32LE, 0);
  h5::create_series(steps, "anderson_coeffs", H5T_IEEE_F64LE, 0);
  for (const char* name : {"active_layers_offsets", "anderson_coeffs_offsets"}) {
    h5::create_series(steps, name, H5T_STD_I64LE, 0);
    const std::int64_t zero = 0;
    h5::append_rows(f, std::string("steps/") + name, H5T_NATIVE_INT64, &zero, 1);
  }

  h5::Group eval = h5::create_group(f, "eval");
  h5::create_series(eval, "step", H5T_STD_I64LE, 0);
  h5::create_series(eval, "loss", H5T_IEEE_F64LE, 0);
  h5::create_series(eval, "accuracy", H5T_IEEE_F64LE, 0);

  ZOPTIMUS_H5(H5Fflush(f, H5F_SCOPE_GLOBAL));
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
    const auto layer_base = static_cast<std::int64_t>(
        h5::append_rows(f, "steps/active_layers", H5T_NATIVE_INT32, layers.data(), layers.size()));
    const auto coeff_base = static_cast<std::int64_t>(h5::append_rows(
        f, "steps/anderson_coeffs", H5T_NATIVE_DOUBLE, coeffs.data(), coeffs.size()));
    for (auto& e : layer_ends) e += layer_base;
    for (auto& e : coeff_ends) e += coeff_base;
    h5::append_rows(f, "steps/active_layers_offsets", H5T_NATIVE_INT64, layer_ends.data(), k);
    h5::append_rows(f, "steps/anderson_coeffs_offsets", H5T_NATIVE_INT64, coeff_ends.data(), k);

    const std::size_t np = static_cast<std::size_t>(n_perturb);
    for (std::size_t field = 0; field < run_log_fields::kPerturb.size(); ++field) {
      std::vector<double> block;
      block.reserve(k * np);
      for (const auto& r : records) {
        const auto& v = field == 0 ? r.loss_plus : field == 1 ? r.loss_minus : r.projected_grad;
        block.insert(block.end(), v.begin(), v.end());
      }
      h5::append_rows(f, std::string("steps/") + run_log_fields::kPerturb[field], H5T_NATIVE_DOUBLE,
                      block.data(), k);
    }
    for (std::size_t field = 0; field < run_log_fields::kTimes.size(); ++field) {
      std::vector<double> column;
      for (const auto& r : records) column.push_back(run_log_fields::times(r)[field]);
      h5::append_rows(f, std::string("steps/") + run_log_fields::kTimes[field], H5T_NATIVE_DOUBLE,
                      column.data(), k);
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
    h5::append_rows(f, "steps/lr", H5T_NATIVE_DOUBLE, lr.data(), k);
    h5::append_rows(f, "steps/skipped", H5T_NATIVE_INT8, skipped.data(), k);
    h5::append_rows(f, "steps/seed", H5T_NATIVE_UINT64, seed.data(), k);
    h5::append_rows(f, "steps/step", H5T_NATIVE_INT64, step.data(), k);
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
    h5::append_rows(f, "eval/loss", H5T_NATIVE_DOUBLE, loss.data(), n);
    h5::append_rows(f, "eval/accuracy", H5T_NATIVE_DOUBLE, accuracy.data(), n);
    h5::append_rows(f, "eval/step", H5T_NATIVE_INT64, step.data(), n);
  }
  ZOPTIMUS_H5(H5Fflush(f, H5F_SCOPE_GLOBAL));
}

namespace {
constexpr int kPairs = kAxisCount * kCommKindCount;
constexpr int kIntsPerRank = 3 * kPairs + 1;  // sent, recv, calls per pair; peak RSS
}  // namespace

void RunLog::Impl::write_ranks(const std::vector<std::int64_t>& ints,
                               const std::vector<double>& doubles,
                               const std::vector<std::string>& figure_names) {
  const hid_t f = file.get();
  h5::Group group = h5::create_group(f, "ranks");
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
    detail::write_per_rank(group, name + "_bytes_sent", int_column(3 * p));
    detail::write_per_rank(group, name + "_bytes_recv", int_column(3 * p + 1));
    detail::write_per_rank(group, name + "_calls", int_column(3 * p + 2));
    detail::write_per_rank(group, name + "_seconds", double_column(p));
    for (const char* suffix : {"_bytes_sent", "_bytes_recv", "_calls", "_seconds"})
      builtin.insert(name + suffix);
  }
  detail::write_per_rank(group, "peak_rss_bytes", int_column(3 * kPairs));
  for (std::size_t i = 0; i < figure_names.size(); ++i) {
    const std::string& name = figure_names[i];
    if (name.empty() || name == "." || name.find('/') != std::string::npos)
      fail("run log {}: per-rank figure name '{}' is not a valid dataset name (no '/', not empty)",
           path, name);
    if (builtin.count(name) != 0)
      fail("run log {}: per-rank figure '{}' clashes with the built-in dataset /ranks/{}", path,
           name, name);
    detail::write_per_rank(group, name, double_column(kPairs + i));
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
    // The reserve first: on a file system without room for it, no HDF5 file is begun.
    s.reserve = SpaceReserve(path, kCloseReserveBytes);
    try {
      in_log(s.path, [&] { s.create(config, mesh_description, hostnames, overwrite); });
    } catch (...) {
      s.reserve.release();
      s.file.reset();
      throw;
    }
  });
}

RunLog::~RunLog() {
  if (!impl_ || impl_->finished || !impl_->file.valid()) return;
  const h5::QuietErrors quiet_hdf5;
  // The log is closing: the reserve's room goes to the last records and the close's metadata
  // (on a nearly full disk a last write that fails would leave a file HDF5 cannot close).
  impl_->reserve.release();
  try {
    impl_->write_pending();
  } catch (const std::exception& e) {
    log::warn("run log {}: records lost when closing: {}", impl_->path, e.what());
  }
  if (H5Fclose(impl_->file.release()) < 0)
    log::warn("run log {}: closing the file failed: {}", impl_->path, h5::error_message());
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
  // Checked on every rank (the record is the same everywhere), so a bad record is the same
  // error on every rank without a collective.
  if (s.finished) fail("run log {}: append after finish()", s.path);
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
  if (s.rank == 0) s.pending.push_back(r);
  if (++s.appends_since_write >= kFlushEvery) flush();
}

void RunLog::add_eval(std::int64_t step, double loss, double accuracy) {
  ZOPTIMUS_ASSERT(impl_);
  Impl& s = *impl_;
  if (s.finished) fail("run log {}: add_eval after finish()", s.path);
  if (s.rank != 0) return;  // an unusable file is reported, agreed, by the next flush()
  s.pending_evals.push_back({step, loss, accuracy});
}

void RunLog::flush() {
  ZOPTIMUS_ASSERT(impl_);
  Impl& s = *impl_;
  if (s.finished) return;
  s.appends_since_write = 0;
  // Only rank 0 writes; a failed write (e.g. a full disk) becomes every rank's error. This is
  // the one collective of the log between its creation and finish(): once per kFlushEvery
  // steps and per evaluation, not per step.
  run_collectively(s.comm, [&] {
    if (s.rank != 0) return;
    if (!s.file.valid()) fail("run log {}: the file is not open", s.path);
    in_log(s.path, [&] { s.write_pending(); });
  });
}

void RunLog::finish(const CommStats& stats, const std::map<std::string, double>& per_rank_figures,
                    const std::map<std::string, std::int64_t>& run_attributes) {
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
    if (!s.file.valid()) fail("run log {}: the file is not open", s.path);
    in_log(s.path, [&] {
      s.write_pending();
      s.write_ranks(all_ints, all_doubles, names);
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - s.start).count();
      h5::write_attribute(s.file, "end_time", utc_timestamp());
      h5::write_attribute(s.file, "wall_seconds", wall);
      for (const auto& [name, value] : run_attributes) h5::write_attribute(s.file, name, value);
      s.reserve.release();  // room for the metadata the close writes
      s.file.close();       // writes the metadata: a failure here is a failed log
    });
  });
}

}  // namespace zoptimus
