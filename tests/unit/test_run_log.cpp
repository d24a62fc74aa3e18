// RunLog: trajectory round trip, per-rank figures with min/avg/max, overwrite refusal, and a
// killed writer leaving a readable log. Leaves run_log_np<N>.h5 and run_log_killed_np<N>.h5
// in the working directory for tests/python/test_run_log_h5py.py.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/error.hpp"
#include "io/run_log.hpp"
#include "io/run_log_reader.hpp"
#include "parallel/collective_guard.hpp"
#include "parallel/comm_stats.hpp"

namespace zoptimus {
namespace {

constexpr int kPerturb = 2;

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

// A file name in the working directory, distinct per rank count (ctest -j runs them together).
std::string local_file(const std::string& stem) {
  return stem + "_np" + std::to_string(world_size()) + ".h5";
}

// Rank 0 removes the file; everyone waits.
void remove_on_rank0(const std::string& path) {
  if (world_rank() == 0) std::filesystem::remove(path);
  MPI_Barrier(MPI_COMM_WORLD);
}

Config test_config() {
  return parse_config("[optim]\nn_perturb = 2\nmethod = \"lezo\"\n", "run_log_deck.toml",
                      {"optim.lr=0.001"});
}

// Step i: ragged LeZO subsets of length i % 5, Anderson coefficients empty every third step,
// skipped steps carrying NaN / -Inf losses, seeds using the top bit of uint64.
StepRecord make_record(int i) {
  StepRecord r;
  r.step = 1000 + i;
  r.seed = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i + 1);
  r.skipped = i % 17 == 5;
  for (int p = 0; p < kPerturb; ++p) {
    r.loss_plus.push_back(r.skipped ? std::numeric_limits<double>::quiet_NaN()
                                    : 3.0 + 0.001 * i + 0.1 * p);
    r.loss_minus.push_back(r.skipped ? -std::numeric_limits<double>::infinity()
                                     : 3.0 - 0.001 * i / 3.0 - 0.1 * p);
    r.projected_grad.push_back((r.loss_plus[p] - r.loss_minus[p]) / 2e-3);
  }
  r.lr = 1e-3 / (1 + i);
  r.step_seconds = 0.1 + i * 1e-4;
  r.forward_seconds = 0.07 + i * 1e-5;
  r.comm_seconds = 0.01 / (i + 1);
  r.rng_seconds = 0.003 * (i % 7);
  r.update_seconds = 0.002;
  r.io_seconds = i % 10 == 0 ? 0.05 : 0.0;
  for (int k = 0; k < i % 5; ++k) r.active_layers.push_back((i + 3 * k) % 24);
  if (i % 3 != 0)
    for (int k = 0; k < 1 + i % 4; ++k) r.anderson_coeffs.push_back(std::sin(i + 0.5 * k));
  return r;
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void expect_same_values(const std::vector<double>& a, const std::vector<double>& b,
                        const char* what, std::int64_t step) {
  ASSERT_EQ(a.size(), b.size()) << what << " at step " << step;
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(same_bits(a[i], b[i]))
        << what << "[" << i << "] at step " << step << ": " << a[i] << " vs " << b[i];
}

void expect_same(const StepRecord& a, const StepRecord& b) {
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.seed, b.seed) << "step " << a.step;
  EXPECT_EQ(a.skipped, b.skipped) << "step " << a.step;
  expect_same_values(a.loss_plus, b.loss_plus, "loss_plus", a.step);
  expect_same_values(a.loss_minus, b.loss_minus, "loss_minus", a.step);
  expect_same_values(a.projected_grad, b.projected_grad, "projected_grad", a.step);
  const double ta[] = {a.lr,          a.step_seconds,   a.forward_seconds, a.comm_seconds,
                       a.rng_seconds, a.update_seconds, a.io_seconds};
  const double tb[] = {b.lr,          b.step_seconds,   b.forward_seconds, b.comm_seconds,
                       b.rng_seconds, b.update_seconds, b.io_seconds};
  for (int k = 0; k < 7; ++k) EXPECT_TRUE(same_bits(ta[k], tb[k])) << "field " << k;
  EXPECT_EQ(a.active_layers, b.active_layers) << "step " << a.step;
  expect_same_values(a.anderson_coeffs, b.anderson_coeffs, "anderson_coeffs", a.step);
}

// --- small HDF5 readers for the checks (rank 0) ---

struct H5File {
  explicit H5File(const std::string& path)
      : id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) {}
  ~H5File() {
    if (id >= 0) H5Fclose(id);
  }
  hid_t id;
};

template <class T>
std::vector<T> read_vector(hid_t file, const std::string& name, hid_t mem_type) {
  hid_t dset = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  EXPECT_GE(dset, 0) << name;
  if (dset < 0) return {};
  hid_t space = H5Dget_space(dset);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<T> values(static_cast<std::size_t>(n));
  if (n > 0) EXPECT_GE(H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Sclose(space);
  H5Dclose(dset);
  return values;
}

double read_double_attribute(hid_t file, const std::string& object, const std::string& name) {
  double value = std::nan("");
  hid_t attr = H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(attr, 0) << object << "@" << name;
  if (attr < 0) return value;
  EXPECT_GE(H5Aread(attr, H5T_NATIVE_DOUBLE, &value), 0);
  H5Aclose(attr);
  return value;
}

std::string read_string_attribute(hid_t file, const std::string& name) {
  hid_t attr = H5Aopen(file, name.c_str(), H5P_DEFAULT);
  EXPECT_GE(attr, 0) << name;
  if (attr < 0) return {};
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  char* text = nullptr;
  EXPECT_GE(H5Aread(attr, type, &text), 0);
  std::string value = text ? text : "";
  H5free_memory(text);
  H5Tclose(type);
  H5Aclose(attr);
  return value;
}

// Checks a /ranks dataset against the expected per-rank values and its min/avg/max.
void expect_per_rank(hid_t file, const std::string& name, const std::vector<double>& expected) {
  const std::string object = "/ranks/" + name;
  const auto values = read_vector<double>(file, object, H5T_NATIVE_DOUBLE);
  ASSERT_EQ(values.size(), expected.size()) << object;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
  int count = 0;
  for (std::size_t r = 0; r < expected.size(); ++r) {
    if (std::isnan(expected[r])) {
      EXPECT_TRUE(std::isnan(values[r])) << object << "[" << r << "]";
      continue;
    }
    EXPECT_EQ(values[r], expected[r]) << object << "[" << r << "]";
    lo = std::min(lo, expected[r]);
    hi = std::max(hi, expected[r]);
    sum += expected[r];
    ++count;
  }
  EXPECT_EQ(read_double_attribute(file, object, "min"), lo) << object;
  EXPECT_EQ(read_double_attribute(file, object, "max"), hi) << object;
  EXPECT_DOUBLE_EQ(read_double_attribute(file, object, "avg"), sum / count) << object;
}

TEST(RunLog, RoundTripEvalsAndPerRankFigures) {
  const int rank = world_rank(), size = world_size();
  const std::string path = local_file("run_log");
  remove_on_rank0(path);
  const Config config = test_config();
  const int steps = 120;
  std::vector<StepRecord> expected;
  {
    RunLog log(path, config, "test mesh 1x" + std::to_string(size), MPI_COMM_WORLD);
    EXPECT_EQ(log.n_perturb(), kPerturb);
    for (int i = 0; i < steps; ++i) {
      expected.push_back(make_record(i));
      log.append(expected.back());
      if (i % 40 == 39) log.add_eval(expected.back().step, 2.0 - 0.01 * i, std::nan(""));
    }
    log.add_eval(9999, 1.5, 0.75);

    // Different traffic on every rank: row bcast scales with the rank, dp allreduce twice.
    CommStats stats;
    stats.record(Axis::Row, CommKind::Bcast, 1000 * (rank + 1), 10 * (rank + 1), 0.5 * (rank + 1));
    stats.record(Axis::Dp, CommKind::Allreduce, 64, 64, 0.25);
    stats.record(Axis::Dp, CommKind::Allreduce, 64 * rank, 64 * rank, 0.25 * rank);
    std::map<std::string, double> figures = {{"tokens_per_second", 100.0 + rank},
                                             {"forward_seconds", 0.5 * rank}};
    if (rank % 2 == 0) figures["even_only"] = 7.0 * rank;
    log.finish(stats, figures);
  }

  // Every rank reads the finished log back (serial, read-only).
  const std::vector<StepRecord> back = read_trajectory(path);
  ASSERT_EQ(back.size(), expected.size());
  for (std::size_t i = 0; i < back.size(); ++i) expect_same(back[i], expected[i]);

  if (rank == 0) {
    H5File file(path);
    ASSERT_GE(file.id, 0);
    EXPECT_EQ(read_string_attribute(file.id, "format"), "zoptimus-runlog");
    EXPECT_EQ(read_double_attribute(file.id, "/", "format_version"), 1.0);
    EXPECT_EQ(read_double_attribute(file.id, "/", "world_size"), size);
    EXPECT_EQ(read_string_attribute(file.id, "deck"), config.effective_toml);
    EXPECT_EQ(read_string_attribute(file.id, "deck_original"), config.deck_text);
    EXPECT_EQ(read_string_attribute(file.id, "mesh"), "test mesh 1x" + std::to_string(size));
    EXPECT_FALSE(read_string_attribute(file.id, "backend").empty());
    EXPECT_FALSE(read_string_attribute(file.id, "hostname").empty());
    EXPECT_FALSE(read_string_attribute(file.id, "git_hash").empty());
    EXPECT_EQ(read_string_attribute(file.id, "start_time").size(), 20u);  // YYYY-MM-DDTHH:MM:SSZ
    EXPECT_EQ(read_string_attribute(file.id, "end_time").size(), 20u);

    const auto offsets =
        read_vector<std::int64_t>(file.id, "/steps/active_layers_offsets", H5T_NATIVE_INT64);
    EXPECT_EQ(offsets.size(), static_cast<std::size_t>(steps + 1));
    const auto eval_step = read_vector<std::int64_t>(file.id, "/eval/step", H5T_NATIVE_INT64);
    const auto eval_acc = read_vector<double>(file.id, "/eval/accuracy", H5T_NATIVE_DOUBLE);
    ASSERT_EQ(eval_step.size(), 4u);
    EXPECT_EQ(eval_step[0], 1039);
    EXPECT_EQ(eval_step[3], 9999);
    EXPECT_TRUE(std::isnan(eval_acc[0]));
    EXPECT_EQ(eval_acc[3], 0.75);

    std::vector<double> sent(size), recv(size), seconds(size), calls(size), dp_sent(size),
        dp_calls(size), zero(size, 0.0), tps(size), fwd(size), even(size);
    for (int r = 0; r < size; ++r) {
      sent[r] = 1000.0 * (r + 1);
      recv[r] = 10.0 * (r + 1);
      seconds[r] = 0.5 * (r + 1);
      calls[r] = 1;
      dp_sent[r] = 64.0 + 64.0 * r;
      dp_calls[r] = 2;
      tps[r] = 100.0 + r;
      fwd[r] = 0.5 * r;
      even[r] = r % 2 == 0 ? 7.0 * r : std::nan("");
    }
    expect_per_rank(file.id, "row_bcast_bytes_sent", sent);
    expect_per_rank(file.id, "row_bcast_bytes_recv", recv);
    expect_per_rank(file.id, "row_bcast_seconds", seconds);
    expect_per_rank(file.id, "row_bcast_calls", calls);
    expect_per_rank(file.id, "dp_allreduce_bytes_sent", dp_sent);
    expect_per_rank(file.id, "dp_allreduce_calls", dp_calls);
    expect_per_rank(file.id, "col_transpose_bytes_sent", zero);
    expect_per_rank(file.id, "model_reduce_scatter_seconds", zero);
    expect_per_rank(file.id, "tokens_per_second", tps);
    expect_per_rank(file.id, "forward_seconds", fwd);
    expect_per_rank(file.id, "even_only", even);
    const auto rss = read_vector<std::int64_t>(file.id, "/ranks/peak_rss_bytes", H5T_NATIVE_INT64);
    ASSERT_EQ(rss.size(), static_cast<std::size_t>(size));
    for (auto v : rss) EXPECT_GT(v, 0);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(RunLog, RefusesToOverwriteUnlessAsked) {
  const std::string path = local_file("run_log_overwrite");
  remove_on_rank0(path);
  const Config config = test_config();
  {
    RunLog log(path, config, "mesh", MPI_COMM_WORLD);
    for (int i = 0; i < 3; ++i) log.append(make_record(i));
  }  // destructor: flush and close, no collectives
  MPI_Barrier(MPI_COMM_WORLD);
  try {
    RunLog again(path, config, "mesh", MPI_COMM_WORLD);
    ADD_FAILURE() << "an existing run log was overwritten";
  } catch (const AgreedError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("already exists"), std::string::npos) << message;
  }
  EXPECT_EQ(read_trajectory(path).size(), 3u);  // untouched by the refused attempt
  MPI_Barrier(MPI_COMM_WORLD);
  {
    RunLog fresh(path, config, "mesh", MPI_COMM_WORLD, /*overwrite=*/true);
    fresh.finish(CommStats{}, {});
  }
  EXPECT_EQ(read_trajectory(path).size(), 0u);
  MPI_Barrier(MPI_COMM_WORLD);
  remove_on_rank0(path);
}

// A child process appends 60 records (one automatic flush at 50) and dies without closing:
// the log must be readable and hold at least the 50 flushed records.
TEST(RunLog, KilledWriterLeavesReadableLog) {
  const std::string path = local_file("run_log_killing");
  const std::string killed = local_file("run_log_killed");
  if (world_rank() == 0)
    [&] {
      std::filesystem::remove(path);
      const Config config = test_config();
      {
        RunLog log(path, config, "self", MPI_COMM_SELF);
        std::fflush(nullptr);
        const pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {  // no MPI here: append/flush only touch HDF5
          try {
            for (int i = 0; i < 60; ++i) log.append(make_record(i));
          } catch (...) {
            _exit(3);
          }
          _exit(0);
        }
        int status = 0;
        ASSERT_EQ(waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
        // The bytes on disk are what a killed run leaves; copy them before this process's own
        // (stale) handle is closed below.
        std::filesystem::copy_file(path, killed, std::filesystem::copy_options::overwrite_existing);
      }
      std::filesystem::remove(path);
      const auto back = read_trajectory(killed);
      EXPECT_GE(back.size(), static_cast<std::size_t>(RunLog::kFlushEvery));
      EXPECT_LE(back.size(), 60u);
      for (std::size_t i = 0; i < back.size(); ++i) expect_same(back[i], make_record(i));
    }();
  MPI_Barrier(MPI_COMM_WORLD);
}

// In-process: the on-disk state after the automatic flush, after flush(), and after the
// destructor (which writes what is still buffered).
TEST(RunLog, FlushesPeriodicallyOnRequestAndOnDestruction) {
  const std::string path = local_file("run_log_flush");
  const std::string copy = local_file("run_log_flush_copy");
  if (world_rank() == 0)
    [&] {
      std::filesystem::remove(path);
      auto snapshot = [&] {
        std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
        return read_trajectory(copy);
      };
      {
        RunLog log(path, test_config(), "self", MPI_COMM_SELF);
        EXPECT_EQ(snapshot().size(), 0u);  // an empty log is already readable
        for (int i = 0; i < 60; ++i) log.append(make_record(i));
        EXPECT_EQ(snapshot().size(), static_cast<std::size_t>(RunLog::kFlushEvery));
        log.flush();
        EXPECT_EQ(snapshot().size(), 60u);
        for (int i = 60; i < 65; ++i) log.append(make_record(i));
      }
      const auto back = read_trajectory(path);
      ASSERT_EQ(back.size(), 65u);
      for (std::size_t i = 0; i < back.size(); ++i) expect_same(back[i], make_record(i));
      std::filesystem::remove(path);
      std::filesystem::remove(copy);
    }();
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(RunLog, ClearErrors) {
  if (world_rank() == 0)
    [&] {
      const std::string path = local_file("run_log_errors");
      std::filesystem::remove(path);
      {
        RunLog log(path, test_config(), "self", MPI_COMM_SELF);
        StepRecord wide = make_record(0);
        wide.loss_minus.push_back(1.0);
        try {
          log.append(wide);
          ADD_FAILURE() << "a record with 3 losses was accepted with n_perturb = 2";
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("loss_minus has 3 values"), std::string::npos)
              << e.what();
        }
      }
      // An HDF5 file that is not a run log.
      std::filesystem::remove(path);
      hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      ASSERT_GE(f, 0);
      H5Fclose(f);
      try {
        read_trajectory(path);
        ADD_FAILURE() << "read a file that is not a run log";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("not a zoptimus run log"), std::string::npos)
            << e.what();
      }
      std::filesystem::remove(path);
      EXPECT_THROW(read_trajectory(path), Error);
    }();
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace zoptimus
