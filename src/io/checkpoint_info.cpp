// Checkpoint metadata: reading and validating a file's header (rank 0 / `ckpt info`),
// comparing it with the deck's model, state packing for broadcast, and the checkpoint series.
#include "io/checkpoint.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "io/checkpoint_checksum.hpp"
#include "io/hdf5_handles.hpp"
#include "parallel/communicator.hpp"

namespace zoptimus {

namespace fs = std::filesystem;

namespace {

// Runs fn, prefixing any Error with where it happened.
template <class Fn>
auto in_context(const std::string& where, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
}

// Names and shapes of the float32 tensors in /params or /optim/<store>.
TensorShapes read_tensor_shapes(hid_t group, const std::string& where) {
  TensorShapes out;
  for (const auto& name : h5::link_names(group)) {
    h5::Object object(ZOPTIMUS_H5(H5Oopen(group, name.c_str(), H5P_DEFAULT)));
    if (H5Iget_type(object) != H5I_DATASET)
      fail("'{}/{}' is not a dataset, expected a float32 tensor", where, name);
    h5::Datatype type(ZOPTIMUS_H5(H5Dget_type(object)));
    if (H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != 4)
      fail("tensor '{}/{}' has dtype {}, expected float32", where, name, h5::describe_type(type));
    std::vector<std::int64_t> shape = h5::dataset_shape(object);
    if (shape.size() != 1 && shape.size() != 2)
      fail("tensor '{}/{}' has {} dimensions, expected 1 (vector) or 2 (matrix)", where, name,
           shape.size());
    out.emplace_back(name, std::move(shape));
  }
  return out;
}

template <class T>
std::vector<T> read_small(hid_t dataset, hid_t mem_type, const std::string& where) {
  const std::vector<std::int64_t> shape = h5::dataset_shape(dataset);
  if (shape.size() > 1) fail("'{}' has {} dimensions, expected a 1-D array", where, shape.size());
  std::vector<T> values(shape.empty() ? 1 : static_cast<std::size_t>(shape[0]));
  if (!values.empty())
    ZOPTIMUS_H5(H5Dread(dataset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  return values;
}

void read_optim(hid_t optim, CheckpointInfo& info) {
  for (const auto& name : h5::attribute_names(optim))
    info.optim_text[name] =
        in_context("/optim", [&] { return h5::read_string_attribute(optim, name); });
  for (const auto& name : h5::link_names(optim)) {
    const std::string where = "/optim/" + name;
    h5::Object object(ZOPTIMUS_H5(H5Oopen(optim, name.c_str(), H5P_DEFAULT)));
    if (H5Iget_type(object) == H5I_GROUP) {
      info.extra[name] = read_tensor_shapes(object, where);
      continue;
    }
    if (H5Iget_type(object) != H5I_DATASET) fail("'{}' is neither a dataset nor a group", where);
    h5::Datatype type(ZOPTIMUS_H5(H5Dget_type(object)));
    const H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_FLOAT)
      info.optim_reals[name] = read_small<double>(object, H5T_NATIVE_DOUBLE, where);
    else if (cls == H5T_INTEGER)
      info.optim_integers[name] = read_small<std::int64_t>(object, H5T_NATIVE_INT64, where);
    else
      fail("'{}' has dtype {}, expected float64 or int64", where, h5::describe_type(type));
  }
}

CheckpointInfo read_info(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("no such file");
  if (fs::is_directory(path, ec)) fail("is a directory, expected an HDF5 file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    h5::error_message();  // clear the stack
    fail("not an HDF5 file (no HDF5 signature found); expected a zoptimus checkpoint");
  }
  h5::File file = h5::try_open_file(path, H5F_ACC_RDONLY);
  if (!file.valid())
    fail("cannot open it as HDF5 ({}); is the file truncated or corrupt?", h5::error_message());

  CheckpointInfo info;
  info.path = path;
  if (!h5::has_attribute(file, "format"))
    fail("missing root attribute 'format' (expected \"{}\"): not a zoptimus checkpoint",
         kCheckpointFormat);
  const std::string format = h5::read_string_attribute(file, "format");
  if (format != kCheckpointFormat)
    fail("root attribute format = \"{}\", expected \"{}\"", format, kCheckpointFormat);
  const std::int64_t version = h5::read_int_attribute(file, "format_version");
  if (version != kCheckpointFormatVersion)
    fail("root attribute format_version = {}, expected {} (the version this zoptimus reads)",
         version, kCheckpointFormatVersion);
  info.format_version = static_cast<int>(version);
  info.step = h5::read_int_attribute(file, "step");
  if (info.step < 0)
    fail("root attribute step = {}, expected the number of completed steps (>= 0)", info.step);
  info.deck = h5::read_string_attribute(file, "deck");
  info.mesh = h5::read_string_attribute(file, "mesh");
  info.library_version = h5::read_string_attribute(file, "library_version");
  info.git_hash = h5::read_string_attribute(file, "git_hash");
  info.created = h5::read_string_attribute(file, "created");
  if (h5::has_attribute(file, "run_id")) info.run_id = h5::read_string_attribute(file, "run_id");

  for (const char* group : {"model", "params"})
    if (!h5::link_exists(file, group)) fail("missing group /{}", group);
  in_context("/model", [&] {
    h5::Group g(ZOPTIMUS_H5(H5Gopen2(file, "model", H5P_DEFAULT)));
    CheckpointModel& m = info.model;
    m.family = h5::has_attribute(g, "family") ? h5::read_string_attribute(g, "family")
                                              : std::string(kModelFamily);
    m.vocab = h5::read_int_attribute(g, "vocab");
    m.hidden = h5::read_int_attribute(g, "hidden");
    m.heads = h5::read_int_attribute(g, "heads");
    m.layers = h5::read_int_attribute(g, "layers");
    m.ffn = h5::read_int_attribute(g, "ffn");
    m.max_positions = h5::read_int_attribute(g, "max_positions");
    m.activation = h5::read_string_attribute(g, "activation");
    m.layernorm_eps = h5::read_double_attribute(g, "layernorm_eps");
  });
  info.tensors =
      read_tensor_shapes(h5::Group(ZOPTIMUS_H5(H5Gopen2(file, "params", H5P_DEFAULT))), "/params");
  if (h5::link_exists(file, "optim"))
    read_optim(h5::Group(ZOPTIMUS_H5(H5Gopen2(file, "optim", H5P_DEFAULT))), info);
  std::vector<std::string> groups = {"params"};
  for (const auto& [name, shapes] : info.extra) groups.push_back("optim/" + name);
  for (const auto& name : groups) {
    h5::Group g(ZOPTIMUS_H5(H5Gopen2(file, name.c_str(), H5P_DEFAULT)));
    if (!h5::has_attribute(g, detail::kChecksumAttribute)) continue;
    const std::int64_t v = in_context(
        "/" + name, [&] { return h5::read_int_attribute(g, detail::kChecksumAttribute); });
    std::memcpy(&info.checksums[name], &v, sizeof v);
  }
  return info;
}

void check_shapes(const std::string& path, const std::string& where, const TensorShapes& found,
                  const ParameterStore& store) {
  std::map<std::string, std::vector<std::int64_t>> by_name(found.begin(), found.end());
  for (const auto& t : store.tensors()) {
    const std::vector<std::int64_t> expected = detail::global_shape(t);
    auto it = by_name.find(t.name);
    if (it == by_name.end())
      fail("checkpoint '{}': missing tensor '{}/{}' (expected shape [{}])", path, where, t.name,
           fmt::join(expected, ", "));
    if (it->second != expected)
      fail("checkpoint '{}': tensor '{}/{}' has shape [{}], expected [{}] (the deck's model)", path,
           where, t.name, fmt::join(it->second, ", "), fmt::join(expected, ", "));
    by_name.erase(it);
  }
  if (!by_name.empty())
    fail("checkpoint '{}': unexpected tensor '{}/{}': not in the model the deck describes", path,
         where, by_name.begin()->first);
}

// Plain byte packing of the state, for one broadcast from rank 0.
struct Packer {
  std::string bytes;
  void raw(const void* p, std::size_t n) { bytes.append(static_cast<const char*>(p), n); }
  void put(std::int64_t v) { raw(&v, sizeof v); }
  void put(const std::string& s) {
    put(static_cast<std::int64_t>(s.size()));
    raw(s.data(), s.size());
  }
  template <class T>
  void put(const std::vector<T>& v) {
    put(static_cast<std::int64_t>(v.size()));
    raw(v.data(), v.size() * sizeof(T));
  }
};

struct Unpacker {
  const std::string& bytes;
  std::size_t at = 0;
  void raw(void* p, std::size_t n) {
    ZOPTIMUS_ASSERT(at + n <= bytes.size());
    std::memcpy(p, bytes.data() + at, n);
    at += n;
  }
  std::int64_t integer() {
    std::int64_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  std::string text() {
    std::string s(static_cast<std::size_t>(integer()), '\0');
    raw(s.data(), s.size());
    return s;
  }
  template <class T>
  std::vector<T> vector() {
    std::vector<T> v(static_cast<std::size_t>(integer()));
    raw(v.data(), v.size() * sizeof(T));
    return v;
  }
};

// Step of "ckpt_<digits>.h5" (or of its ".tmp"), or -1 for any other name.
std::int64_t series_step(const std::string& name, bool tmp) {
  const std::string prefix = "ckpt_", suffix = tmp ? ".h5.tmp" : ".h5";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

// (step, path) of the series' files, newest first.
std::vector<std::pair<std::int64_t, fs::path>> list_series(const std::string& dir, bool tmp) {
  std::vector<std::pair<std::int64_t, fs::path>> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (const std::int64_t step = series_step(it->path().filename().string(), tmp); step >= 0)
      out.emplace_back(step, it->path());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

}  // namespace

std::vector<std::int64_t> detail::global_shape(const TensorInfo& t) {
  if (t.is_vector) return {t.cols};
  return {t.rows, t.cols};
}

std::string detail::pack_state(const CheckpointState& state, const std::string& created) {
  Packer p;
  p.put(created);
  p.put(state.step);
  p.put(static_cast<std::int64_t>(state.text.size()));
  for (const auto& [k, v] : state.text) {
    p.put(k);
    p.put(v);
  }
  p.put(static_cast<std::int64_t>(state.reals.size()));
  for (const auto& [k, v] : state.reals) {
    p.put(k);
    p.put(v);
  }
  p.put(static_cast<std::int64_t>(state.integers.size()));
  for (const auto& [k, v] : state.integers) {
    p.put(k);
    p.put(v);
  }
  return p.bytes;
}

CheckpointState detail::unpack_state(const std::string& bytes, std::string& created) {
  Unpacker u{bytes};
  CheckpointState s;
  created = u.text();
  s.step = u.integer();
  for (std::int64_t n = u.integer(), i = 0; i < n; ++i) {
    std::string k = u.text();
    s.text[k] = u.text();
  }
  for (std::int64_t n = u.integer(), i = 0; i < n; ++i) {
    std::string k = u.text();
    s.reals[k] = u.vector<double>();
  }
  for (std::int64_t n = u.integer(), i = 0; i < n; ++i) {
    std::string k = u.text();
    s.integers[k] = u.vector<std::int64_t>();
  }
  return s;
}

void detail::check_against_model(const CheckpointInfo& info, const Config& config,
                                 const ParameterStore& params, const ExtraStoresIn& extra) {
  const ModelConfig& m = config.model;
  const CheckpointModel& f = info.model;
  if (f.family != kModelFamily)
    fail("checkpoint '{}': /model family = \"{}\", but this build implements only \"{}\"",
         info.path, f.family, kModelFamily);
  const std::pair<const char*, std::pair<std::int64_t, std::int64_t>> dims[] = {
      {"vocab", {f.vocab, m.vocab}}, {"hidden", {f.hidden, m.hidden}},
      {"heads", {f.heads, m.heads}}, {"layers", {f.layers, m.layers}},
      {"ffn", {f.ffn, m.ffn}},       {"max_positions", {f.max_positions, m.max_positions}}};
  for (const auto& [name, values] : dims)
    if (values.first != values.second)
      fail("checkpoint '{}': /model {} = {}, but the deck has model.{} = {}", info.path, name,
           values.first, name, values.second);
  if (f.activation != choice_name(m.activation))
    fail("checkpoint '{}': /model activation = \"{}\", but the deck has model.activation = \"{}\"",
         info.path, f.activation, choice_name(m.activation));
  if (f.layernorm_eps != m.layernorm_eps)
    fail("checkpoint '{}': /model layernorm_eps = {}, but the deck has model.layernorm_eps = {}",
         info.path, f.layernorm_eps, m.layernorm_eps);
  check_shapes(info.path, "/params", info.tensors, params);
  for (const auto& [name, store] : extra) {
    auto it = info.extra.find(name);
    if (it == info.extra.end())
      fail("checkpoint '{}': missing optimizer store '/optim/{}' (the run needs it)", info.path,
           name);
    check_shapes(info.path, "/optim/" + name, it->second, *store);
  }
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  const h5::QuietErrors quiet_hdf5;  // failures become one zoptimus::Error
  return in_context(fmt::format("checkpoint '{}'", path), [&] { return read_info(path); });
}

std::int64_t CheckpointInfo::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& [name, shape] : tensors) {
    std::int64_t size = 1;
    for (std::int64_t d : shape) size *= d;
    n += size;
  }
  return n;
}

CheckpointState CheckpointInfo::state() const {
  CheckpointState s;
  s.step = step;
  s.text = optim_text;
  s.reals = optim_reals;
  s.integers = optim_integers;
  return s;
}

CheckpointSeries::CheckpointSeries(std::string out_dir, int keep, MPI_Comm comm)
    : out_dir_(std::move(out_dir)), keep_(keep), comm_(comm) {}

std::string CheckpointSeries::path_for(std::int64_t step) const {
  return (fs::path(out_dir_) / fmt::format("ckpt_{:08d}.h5", step)).string();
}

void CheckpointSeries::saved(const std::string& path) const {
  if (comm_rank(comm_) != 0) return;
  const std::int64_t newest = series_step(fs::path(path).filename().string(), false);
  std::error_code ec;
  const auto done = list_series(out_dir_, false);
  for (std::size_t i = 0; keep_ > 0 && i < done.size(); ++i)
    if (i >= static_cast<std::size_t>(keep_) && done[i].first < newest &&
        !fs::remove(done[i].second, ec) && ec)
      log::warn("could not delete old checkpoint '{}': {}", done[i].second.string(), ec.message());
  // Leftovers of writes that were interrupted before the one that just completed.
  for (const auto& [step, tmp] : list_series(out_dir_, true))
    if (step < newest) fs::remove(tmp, ec);
}

std::string CheckpointSeries::latest() const {
  // Newest first; a file that does not validate (damaged, incomplete, NaN) is skipped.
  for (const auto& [step, path] : list_series(out_dir_, false)) {
    try {
      verify_checkpoint(path.string());
      return path.string();
    } catch (const Error& e) {
      log::warn("io.restart = \"latest\": skipping {}", e.what());
    }
  }
  return std::string();
}

}  // namespace zoptimus
