// The serial run log reader (see run_log_reader.hpp).
#include "io/run_log_reader.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "io/hdf5_handles.hpp"
#include "io/hdf5_series.hpp"

namespace zoptimus {
namespace {

// Opens a run log for reading after checking its format and version.
h5::File open_run_log(const std::string& path) {
  if (!std::filesystem::exists(path)) fail("run log {}: no such file", path);
  if (H5Fis_hdf5(path.c_str()) <= 0) fail("run log {}: not an HDF5 file", path);
  h5::File file = h5::try_open_file(path, H5F_ACC_RDONLY);
  if (!file.valid()) fail("run log {}: cannot open it for reading: {}", path, h5::error_message());
  const std::string format =
      h5::has_attribute(file, "format") && h5::is_string_attribute(file, "format")
          ? h5::read_string_attribute(file, "format")
          : std::string();
  if (format != kRunLogFormat)
    fail("run log {}: not a zoptimus run log (attribute 'format' is '{}', expected '{}')", path,
         format, kRunLogFormat);
  return file;
}

// The rows of a ragged dataset that lie inside the flat data actually present (at most n).
std::size_t ragged_prefix(const std::vector<std::int64_t>& offsets, std::size_t flat_size,
                          std::size_t n, const char* name) {
  if (offsets.empty() || offsets[0] != 0) fail("dataset /steps/{}_offsets must start with 0", name);
  std::size_t valid = std::min(n, offsets.size() - 1);
  for (std::size_t i = 0; i < valid; ++i) {
    if (offsets[i + 1] < offsets[i])
      fail("dataset /steps/{}_offsets decreases at row {}", name, i + 1);
    if (static_cast<std::size_t>(offsets[i + 1]) > flat_size) return i;
  }
  return valid;
}

std::vector<StepRecord> read_steps(hid_t f) {
  using h5::read_series_1d;
  const std::int64_t version =
      h5::has_attribute(f, "format_version") ? h5::read_int_attribute(f, "format_version") : 0;
  if (version != kRunLogFormatVersion)
    fail("format_version {} is not supported (this build reads {})", version, kRunLogFormatVersion);

  const auto step = read_series_1d<std::int64_t>(f, "steps/step", H5T_NATIVE_INT64);
  const auto seed = read_series_1d<std::uint64_t>(f, "steps/seed", H5T_NATIVE_UINT64);
  const auto lr = read_series_1d<double>(f, "steps/lr", H5T_NATIVE_DOUBLE);
  const auto skipped = read_series_1d<std::int8_t>(f, "steps/skipped", H5T_NATIVE_INT8);
  std::size_t n = std::min({step.size(), seed.size(), lr.size(), skipped.size()});
  std::vector<std::vector<double>> times;
  for (const char* name : run_log_fields::kTimes) {
    times.push_back(read_series_1d<double>(f, std::string("steps/") + name, H5T_NATIVE_DOUBLE));
    n = std::min(n, times.back().size());
  }
  std::vector<std::vector<double>> perturb;
  hsize_t np = 0;
  for (const char* name : run_log_fields::kPerturb) {
    hsize_t rows = 0, cols = 0;
    perturb.push_back(
        h5::read_series<double>(f, std::string("steps/") + name, H5T_NATIVE_DOUBLE, 2, rows, cols));
    if (np != 0 && cols != np)
      fail("dataset /steps/{} has {} columns, /steps/loss_plus has {}", name, cols, np);
    np = cols;
    n = std::min<std::size_t>(n, rows);
  }
  const auto layers = read_series_1d<std::int32_t>(f, "steps/active_layers", H5T_NATIVE_INT32);
  const auto layer_offsets =
      read_series_1d<std::int64_t>(f, "steps/active_layers_offsets", H5T_NATIVE_INT64);
  const auto coeffs = read_series_1d<double>(f, "steps/anderson_coeffs", H5T_NATIVE_DOUBLE);
  const auto coeff_offsets =
      read_series_1d<std::int64_t>(f, "steps/anderson_coeffs_offsets", H5T_NATIVE_INT64);
  n = ragged_prefix(layer_offsets, layers.size(), n, "active_layers");
  n = ragged_prefix(coeff_offsets, coeffs.size(), n, "anderson_coeffs");

  std::vector<StepRecord> records(n);
  for (std::size_t i = 0; i < n; ++i) {
    StepRecord& r = records[i];
    r.step = step[i];
    r.seed = seed[i];
    r.lr = lr[i];
    r.skipped = skipped[i] != 0;
    std::array<double, 6> t{};
    for (std::size_t j = 0; j < t.size(); ++j) t[j] = times[j][i];
    run_log_fields::set_times(r, t);
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

}  // namespace

std::vector<StepRecord> read_trajectory(const std::string& path) {
  const h5::QuietErrors quiet_hdf5;
  h5::File file = open_run_log(path);
  try {
    return read_steps(file);
  } catch (const Error& e) {
    fail("run log {}: {}", path, e.what());
  }
}

std::string read_run_log_deck(const std::string& path) {
  const h5::QuietErrors quiet_hdf5;
  h5::File file = open_run_log(path);
  if (!h5::has_attribute(file, "deck")) fail("run log {}: no deck attribute", path);
  return h5::read_string_attribute(file, "deck");
}

}  // namespace zoptimus
