// Token datasets: byte tokenizer, builders, HDF5 writer and the validated per-replica reader.
#include "io/token_dataset.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "core/error.hpp"

namespace zoptimus {

namespace detail::token_h5 {

// Owns one HDF5 identifier; closes it with the matching H5?close.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer close) : id_(id), close_(close) {}
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() {
    if (id_ >= 0 && close_) close_(id_);
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

// Silences HDF5's own error-stack printing while alive: failures become zoptimus::Error.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

Hid checked(hid_t id, Hid::Closer close, const std::string& file, const std::string& what) {
  if (id < 0) fail("HDF5 file '{}': {} failed", file, what);
  return Hid(id, close);
}

void check(herr_t status, const std::string& file, const std::string& what) {
  if (status < 0) fail("HDF5 file '{}': {} failed", file, what);
}

// ---- writing ----

void write_string_attr(hid_t loc, const char* name, const std::string& value,
                       const std::string& file) {
  Hid type = checked(H5Tcopy(H5T_C_S1), H5Tclose, file, "H5Tcopy");
  check(H5Tset_size(type.get(), H5T_VARIABLE), file, "H5Tset_size");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), file, "H5Tset_cset");
  Hid space = checked(H5Screate(H5S_SCALAR), H5Sclose, file, "H5Screate");
  Hid attr = checked(H5Acreate2(loc, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose, file, fmt::format("creating attribute '{}'", name));
  const char* text = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &text), file, fmt::format("writing attribute '{}'", name));
}

void write_int_attr(hid_t loc, const char* name, std::int64_t value, const std::string& file) {
  Hid space = checked(H5Screate(H5S_SCALAR), H5Sclose, file, "H5Screate");
  Hid attr = checked(H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose, file, fmt::format("creating attribute '{}'", name));
  check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), file,
        fmt::format("writing attribute '{}'", name));
}

void write_int32_dataset(hid_t loc, const char* name, const std::vector<hsize_t>& dims,
                         const std::vector<std::int32_t>& data, const std::string& file) {
  Hid space = checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                      H5Sclose, file, "H5Screate_simple");
  // No object timestamps: the same inputs give the same file bytes (reproducible demo data).
  Hid dcpl = checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, file, "H5Pcreate");
  check(H5Pset_obj_track_times(dcpl.get(), false), file, "H5Pset_obj_track_times");
  Hid dset = checked(
      H5Dcreate2(loc, name, H5T_STD_I32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
      H5Dclose, file, fmt::format("creating dataset '{}'", name));
  check(H5Dwrite(dset.get(), H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), file,
        fmt::format("writing dataset '{}'", name));
}

void write_split(hid_t file_id, const char* group, const TokenRows& rows, int seq_len,
                 bool classify, const std::string& file) {
  Hid gcpl = checked(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, file, "H5Pcreate");
  check(H5Pset_obj_track_times(gcpl.get(), false), file, "H5Pset_obj_track_times");
  Hid g = checked(H5Gcreate2(file_id, group, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose, file,
                  fmt::format("creating group '{}'", group));
  const auto n = static_cast<hsize_t>(rows.rows);
  write_int32_dataset(g.get(), "tokens", {n, static_cast<hsize_t>(seq_len)}, rows.tokens, file);
  if (!classify) return;
  write_int32_dataset(g.get(), "labels", {n}, rows.labels, file);
  write_int32_dataset(g.get(), "last_pos", {n}, rows.last_pos, file);
}

// ---- reading ----

std::string read_string_attr(hid_t loc, const char* name, const std::string& where) {
  Hid attr = checked(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose, where, "H5Aopen");
  Hid ftype = checked(H5Aget_type(attr.get()), H5Tclose, where, "H5Aget_type");
  if (H5Tget_class(ftype.get()) != H5T_STRING)
    fail("{}: attribute '{}' must be a string", where, name);
  Hid mtype = checked(H5Tcopy(H5T_C_S1), H5Tclose, where, "H5Tcopy");
  if (H5Tis_variable_str(ftype.get()) > 0) {
    check(H5Tset_size(mtype.get(), H5T_VARIABLE), where, "H5Tset_size");
    check(H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get())), where, "H5Tset_cset");
    char* text = nullptr;
    check(H5Aread(attr.get(), mtype.get(), &text), where, fmt::format("reading '{}'", name));
    std::string out = text ? text : "";
    H5free_memory(text);
    return out;
  }
  const std::size_t size = H5Tget_size(ftype.get());
  check(H5Tset_size(mtype.get(), size), where, "H5Tset_size");
  std::vector<char> buffer(size + 1, '\0');
  check(H5Aread(attr.get(), mtype.get(), buffer.data()), where, fmt::format("reading '{}'", name));
  return std::string(buffer.data());
}

std::int64_t read_int_attr(hid_t loc, const char* name, const std::string& where) {
  Hid attr = checked(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose, where, "H5Aopen");
  Hid ftype = checked(H5Aget_type(attr.get()), H5Tclose, where, "H5Aget_type");
  Hid space = checked(H5Aget_space(attr.get()), H5Sclose, where, "H5Aget_space");
  if (H5Tget_class(ftype.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1)
    fail("{}: attribute '{}' must be one integer", where, name);
  std::int64_t value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), where, fmt::format("reading '{}'", name));
  return value;
}

std::string describe_type(hid_t type) {
  const std::size_t bytes = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", 8 * bytes);
    case H5T_FLOAT:
      return fmt::format("float{}", 8 * bytes);
    case H5T_STRING:
      return "string";
    default:
      return "a non-numeric type";
  }
}

// Opens an int32 dataset of rank 1 ([N]) or 2 ([N, cols]) and checks type and shape.
Hid open_int32(hid_t file_id, const std::string& name, int cols, const std::string& where,
               std::int64_t& rows) {
  if (H5Lexists(file_id, name.c_str(), H5P_DEFAULT) <= 0)
    fail("{}: dataset {} is missing", where, name);
  Hid dset = checked(H5Dopen2(file_id, name.c_str(), H5P_DEFAULT), H5Dclose, where,
                     fmt::format("opening {}", name));
  Hid type = checked(H5Dget_type(dset.get()), H5Tclose, where, "H5Dget_type");
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Tget_size(type.get()) != 4 ||
      H5Tget_sign(type.get()) != H5T_SGN_2)
    fail("{}: {}: expected int32, found {}", where, name, describe_type(type.get()));
  Hid space = checked(H5Dget_space(dset.get()), H5Sclose, where, "H5Dget_space");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  hsize_t dims[2] = {0, 0};
  if (rank >= 1 && rank <= 2) H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  const std::string expected = cols > 0 ? fmt::format("[N, {}]", cols) : "[N]";
  std::string found = "rank " + std::to_string(rank);
  if (rank == 1) found = fmt::format("[{}]", dims[0]);
  if (rank == 2) found = fmt::format("[{}, {}]", dims[0], dims[1]);
  const bool ok = rank == (cols > 0 ? 2 : 1) && dims[0] >= 1 &&
                  (cols <= 0 || dims[1] == static_cast<hsize_t>(cols));
  if (!ok) fail("{}: {}: expected shape {} with N >= 1, found {}", where, name, expected, found);
  rows = static_cast<std::int64_t>(dims[0]);
  return dset;
}

// Reads rows [first, first + count) of an int32 dataset of `cols` columns (1 for [N]).
void read_rows(hid_t dset, std::int64_t first, std::int64_t count, int cols, int* out,
               const std::string& where) {
  Hid fspace = checked(H5Dget_space(dset), H5Sclose, where, "H5Dget_space");
  hsize_t start[2] = {static_cast<hsize_t>(first), 0};
  hsize_t block[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(cols)};
  check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, block, nullptr), where,
        "H5Sselect_hyperslab");
  hsize_t n = static_cast<hsize_t>(count) * static_cast<hsize_t>(cols);
  Hid mspace = checked(H5Screate_simple(1, &n, nullptr), H5Sclose, where, "H5Screate_simple");
  check(H5Dread(dset, H5T_NATIVE_INT, mspace.get(), fspace.get(), H5P_DEFAULT, out), where,
        "reading rows");
}

}  // namespace detail::token_h5

namespace bytes_v1 {

std::vector<std::int32_t> encode(std::string_view text) {
  std::vector<std::int32_t> out;
  out.reserve(text.size());
  for (char c : text) out.push_back(static_cast<unsigned char>(c));
  return out;
}

std::string decode(const std::vector<std::int32_t>& tokens) {
  std::string out;
  for (std::int32_t t : tokens)
    if (t >= 0 && t < 256) out.push_back(static_cast<char>(static_cast<unsigned char>(t)));
  return out;
}

}  // namespace bytes_v1

TokenRows lm_windows(const std::vector<std::string>& documents, int seq_len) {
  if (seq_len < 2) fail("seq_len = {}: must be at least 2 (a token and its next token)", seq_len);
  std::vector<std::int32_t> stream;
  for (const std::string& doc : documents) {
    stream.push_back(bytes_v1::kBos);
    for (std::int32_t t : bytes_v1::encode(doc)) stream.push_back(t);
    stream.push_back(bytes_v1::kEos);
  }
  TokenRows rows;
  rows.rows = (static_cast<std::int64_t>(stream.size()) + seq_len - 1) / seq_len;
  stream.resize(static_cast<std::size_t>(rows.rows) * seq_len, bytes_v1::kPad);
  rows.tokens = std::move(stream);
  return rows;
}

std::vector<std::int32_t> label_words_for(const std::vector<std::string>& label_names) {
  if (label_names.size() < 2)
    fail("classification needs at least 2 labels, got {}", label_names.size());
  std::vector<std::int32_t> words;
  for (std::size_t k = 0; k < label_names.size(); ++k) {
    if (label_names[k].empty()) fail("label {} is empty", k);
    const auto initial = static_cast<std::int32_t>(static_cast<unsigned char>(label_names[k][0]));
    for (std::size_t j = 0; j < k; ++j)
      if (words[j] == initial)
        fail(
            "labels '{}' and '{}' share the initial '{}': label word k is the byte token of the "
            "first character of label k, so the initials must be distinct",
            label_names[j], label_names[k], label_names[k][0]);
    words.push_back(initial);
  }
  return words;
}

TokenRows classification_rows(const std::vector<LabeledText>& examples,
                              const std::vector<std::string>& label_names, int seq_len) {
  if (seq_len < 2) fail("seq_len = {}: must be at least 2 (BOS and one prompt token)", seq_len);
  TokenRows rows;
  rows.rows = static_cast<std::int64_t>(examples.size());
  rows.tokens.assign(examples.size() * static_cast<std::size_t>(seq_len), bytes_v1::kPad);
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const LabeledText& ex = examples[i];
    if (ex.text.empty()) fail("{}: empty text", ex.where);
    const auto it = std::find(label_names.begin(), label_names.end(), ex.label);
    if (it == label_names.end())
      fail("{}: unknown label '{}' (expected one of: {})", ex.where, ex.label,
           fmt::join(label_names, ", "));
    std::int32_t* row = rows.tokens.data() + i * seq_len;
    row[0] = bytes_v1::kBos;
    const std::vector<std::int32_t> bytes = bytes_v1::encode(ex.text);
    const int kept = static_cast<int>(std::min<std::size_t>(bytes.size(), seq_len - 1));
    std::copy(bytes.begin(), bytes.begin() + kept, row + 1);
    rows.last_pos.push_back(kept);
    rows.labels.push_back(static_cast<std::int32_t>(it - label_names.begin()));
  }
  return rows;
}

void split_rows(const TokenRows& all, int seq_len, double validation_fraction, TokenRows& train,
                TokenRows& validation) {
  if (!(validation_fraction > 0.0 && validation_fraction < 1.0))
    fail("validation fraction = {}: must be in (0, 1)", validation_fraction);
  const std::int64_t n = all.rows;
  if (n < 2) fail("{} sequence(s): need at least 2 (one train, one validation); add more data", n);
  const std::int64_t n_val =
      std::clamp<std::int64_t>(std::llround(validation_fraction * n), 1, n - 1);
  const bool classify = !all.labels.empty();
  train = TokenRows{};
  validation = TokenRows{};
  for (std::int64_t i = 0; i < n; ++i) {
    // Row i is held out when floor((i+1) n_val / n) steps up: n_val rows, evenly spread.
    const bool held = (i + 1) * n_val / n > i * n_val / n;
    TokenRows& dst = held ? validation : train;
    dst.tokens.insert(dst.tokens.end(), all.tokens.begin() + i * seq_len,
                      all.tokens.begin() + (i + 1) * seq_len);
    if (classify) {
      dst.labels.push_back(all.labels[i]);
      dst.last_pos.push_back(all.last_pos[i]);
    }
    ++dst.rows;
  }
}

void write_token_dataset(const std::string& path, const TokenDatasetContents& c, bool overwrite) {
  namespace fs = std::filesystem;
  using namespace detail::token_h5;
  const bool classify = c.task == "classification";
  if (c.task != "lm" && !classify)
    fail("task = '{}': expected \"lm\" or \"classification\"", c.task);
  if (c.seq_len < 2) fail("seq_len = {}: must be at least 2", c.seq_len);
  for (const TokenRows* r : {&c.train, &c.validation}) {
    const auto n = static_cast<std::size_t>(r->rows);
    ZOPTIMUS_ASSERT(r->rows >= 1 && r->tokens.size() == n * c.seq_len);
    ZOPTIMUS_ASSERT(!classify || (r->labels.size() == n && r->last_pos.size() == n));
  }
  if (classify && c.label_words.size() < 2) fail("classification needs at least 2 label words");
  std::error_code ec;
  if (fs::exists(path, ec) && !overwrite)
    fail("output file '{}' exists; refusing to overwrite it (pass --force to replace it)", path);

  const std::string tmp = path + ".tmp";
  QuietHdf5 quiet;
  try {
    Hid file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!file.valid())
      fail("cannot create '{}' (does the directory exist and is it writable?)", tmp);
    const hid_t f = file.get();
    write_string_attr(f, "format", kTokenDatasetFormat, tmp);
    write_int_attr(f, "format_version", kTokenDatasetVersion, tmp);
    write_string_attr(f, "task", c.task, tmp);
    write_string_attr(f, "tokenizer", bytes_v1::kName, tmp);
    write_int_attr(f, "vocab", bytes_v1::kVocab, tmp);
    write_int_attr(f, "seq_len", c.seq_len, tmp);
    write_int_attr(f, "pad_id", bytes_v1::kPad, tmp);
    if (!c.source.empty()) write_string_attr(f, "source", c.source, tmp);
    write_split(f, "/train", c.train, c.seq_len, classify, tmp);
    write_split(f, "/validation", c.validation, c.seq_len, classify, tmp);
    if (classify) {
      write_int32_dataset(f, "label_words", {c.label_words.size()}, c.label_words, tmp);
      if (!c.label_names.empty())
        write_string_attr(f, "label_names", fmt::format("{}", fmt::join(c.label_names, ",")), tmp);
    }
    check(H5Fflush(f, H5F_SCOPE_GLOBAL), tmp, "H5Fflush");
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  }
}

std::vector<int> next_token_targets(const std::vector<int>& tokens, int seq_len, int pad_id) {
  std::vector<int> targets(tokens.size(), -1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const bool last = static_cast<int>(i % seq_len) == seq_len - 1;
    if (!last && tokens[i + 1] != pad_id) targets[i] = tokens[i + 1];
  }
  return targets;
}

struct TokenDataset::Handles {
  detail::token_h5::Hid file, train_tokens, val_tokens, train_labels, val_labels, train_last,
      val_last;
};

TokenDataset::TokenDataset(const std::string& path, const std::string& task, int seq_len,
                           int model_vocab)
    : h_(std::make_unique<Handles>()) {
  using namespace detail::token_h5;
  info_.path = path;
  const std::string where = fmt::format("token dataset '{}'", path);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail("{} (data.path): no such file; build one with `zoptimus data`", where);
  QuietHdf5 quiet;
  if (H5Fis_hdf5(path.c_str()) <= 0) fail("{}: not an HDF5 file", where);
  Hid fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path, "H5Pcreate");
#if H5_VERSION_GE(1, 10, 7)
  // Read-only opens from many ranks: skip file locks (unsupported on some parallel file systems).
  H5Pset_file_locking(fapl.get(), false, true);
#endif
  h_->file = Hid(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!h_->file.valid()) fail("{}: cannot open it for reading", where);
  const hid_t f = h_->file.get();

  auto require_attr = [&](const char* name) {
    if (H5Aexists(f, name) <= 0)
      fail("{}: root attribute '{}' is missing; not a zoptimus token dataset (format \"{}\")",
           where, name, kTokenDatasetFormat);
  };
  require_attr("format");
  const std::string format = read_string_attr(f, "format", where);
  if (format != kTokenDatasetFormat)
    fail("{}: format = \"{}\", expected \"{}\"", where, format, kTokenDatasetFormat);
  for (const char* name : {"format_version", "task", "tokenizer", "vocab", "seq_len", "pad_id"})
    require_attr(name);
  const std::int64_t version = read_int_attr(f, "format_version", where);
  if (version != kTokenDatasetVersion)
    fail("{}: format_version = {}, this build reads version {}", where, version,
         kTokenDatasetVersion);
  info_.task = read_string_attr(f, "task", where);
  info_.tokenizer = read_string_attr(f, "tokenizer", where);
  info_.vocab = read_int_attr(f, "vocab", where);
  info_.seq_len = read_int_attr(f, "seq_len", where);
  info_.pad_id = read_int_attr(f, "pad_id", where);
  if (info_.task != task) fail("{}: task = \"{}\" but data.task = \"{}\"", where, info_.task, task);
  if (info_.vocab < 1 || info_.vocab > model_vocab)
    fail("{}: vocab = {} does not fit the model: expected 1 <= vocab <= model.vocab = {}", where,
         info_.vocab, model_vocab);
  if (info_.seq_len != seq_len)
    fail(
        "{}: seq_len = {} but data.seq_len = {}; set data.seq_len={} or rebuild the dataset "
        "with --seq-len {}",
        where, info_.seq_len, seq_len, info_.seq_len, seq_len);
  if (info_.pad_id < 0 || info_.pad_id >= info_.vocab)
    fail("{}: pad_id = {} outside [0, vocab = {})", where, info_.pad_id, info_.vocab);
  for (const char* group : {"/train", "/validation"})
    if (H5Lexists(f, group, H5P_DEFAULT) <= 0)
      fail("{}: group {} is missing (expected /train and /validation)", where, group);

  h_->train_tokens = open_int32(f, "/train/tokens", seq_len, where, info_.train_rows);
  h_->val_tokens = open_int32(f, "/validation/tokens", seq_len, where, info_.validation_rows);
  if (task != "classification") return;
  std::int64_t n = 0;
  auto open_column = [&](const char* name, std::int64_t expected_rows) {
    Hid d = open_int32(f, name, 0, where, n);
    if (n != expected_rows)
      fail("{}: {}: expected [{}] (one per sequence), found [{}]", where, name, expected_rows, n);
    return d;
  };
  h_->train_labels = open_column("/train/labels", info_.train_rows);
  h_->train_last = open_column("/train/last_pos", info_.train_rows);
  h_->val_labels = open_column("/validation/labels", info_.validation_rows);
  h_->val_last = open_column("/validation/last_pos", info_.validation_rows);
  Hid words = open_int32(f, "/label_words", 0, where, n);
  if (n < 2) fail("{}: /label_words: expected at least 2 label words, found {}", where, n);
  std::vector<int> w(static_cast<std::size_t>(n));
  read_rows(words.get(), 0, n, 1, w.data(), where);
  for (int t : w)
    if (t < 0 || t >= info_.vocab)
      fail("{}: /label_words: token {} outside [0, vocab = {})", where, t, info_.vocab);
  info_.label_words.assign(w.begin(), w.end());
}

TokenDataset::~TokenDataset() = default;

std::int64_t TokenDataset::rows(TokenSplit split) const {
  return split == TokenSplit::Train ? info_.train_rows : info_.validation_rows;
}

Batch TokenDataset::read(TokenSplit split, std::int64_t first, int count) const {
  using namespace detail::token_h5;
  ZOPTIMUS_ASSERT(first >= 0 && count >= 0);
  const bool train = split == TokenSplit::Train;
  const bool classify = info_.task == "classification";
  const std::string where = fmt::format("token dataset '{}'", info_.path);
  const std::string group = train ? "/train" : "/validation";
  const int seq = static_cast<int>(info_.seq_len);
  const std::int64_t n = rows(split);
  Batch b;
  b.batch = count;
  b.seq = seq;
  b.tokens.resize(static_cast<std::size_t>(count) * seq);
  if (classify) {
    b.labels.resize(count);
    b.last_pos.resize(count);
    b.label_words.assign(info_.label_words.begin(), info_.label_words.end());
  }
  QuietHdf5 quiet;
  // Global rows wrap modulo n; a batch may straddle the end (or, if count > n, wrap again).
  for (int done = 0; done < count;) {
    const std::int64_t start = (first + done) % n;
    const int take = static_cast<int>(std::min<std::int64_t>(count - done, n - start));
    read_rows((train ? h_->train_tokens : h_->val_tokens).get(), start, take, seq,
              b.tokens.data() + static_cast<std::size_t>(done) * seq, where);
    if (classify) {
      read_rows((train ? h_->train_labels : h_->val_labels).get(), start, take, 1,
                b.labels.data() + done, where);
      read_rows((train ? h_->train_last : h_->val_last).get(), start, take, 1,
                b.last_pos.data() + done, where);
    }
    done += take;
  }
  for (std::size_t i = 0; i < b.tokens.size(); ++i)
    if (b.tokens[i] < 0 || b.tokens[i] >= info_.vocab)
      fail("{}: {}/tokens row {} holds token {} outside [0, vocab = {})", where, group,
           (first + static_cast<std::int64_t>(i) / seq) % n, b.tokens[i], info_.vocab);
  for (int s = 0; s < count && classify; ++s) {
    if (b.last_pos[s] < 0 || b.last_pos[s] >= seq)
      fail("{}: {}/last_pos = {} outside [0, seq_len = {})", where, group, b.last_pos[s], seq);
    if (b.labels[s] < 0 || b.labels[s] >= static_cast<int>(b.label_words.size()))
      fail("{}: {}/labels = {} outside [0, {} label words)", where, group, b.labels[s],
           b.label_words.size());
  }
  b.targets = next_token_targets(b.tokens, seq, static_cast<int>(info_.pad_id));
  return b;
}

Batch dataset_batch(const TokenDataset& dataset, TokenSplit split, int batch, int replica, int dp,
                    std::int64_t index) {
  const std::int64_t first = (index * dp + replica) * static_cast<std::int64_t>(batch);
  return dataset.read(split, first % dataset.rows(split), batch);
}

namespace {

class DatasetBatches : public BatchSource {
 public:
  DatasetBatches(const Config& config, const Mesh& mesh)
      : dataset_(config.data.path, std::string(choice_name(config.data.task)), config.data.seq_len,
                 config.model.vocab),
        batch_(config.data.batch),
        replica_(mesh.replica()),
        dp_(mesh.shape().dp) {}
  Batch train_batch(std::int64_t index) override {
    return dataset_batch(dataset_, TokenSplit::Train, batch_, replica_, dp_, index);
  }
  Batch eval_batch(std::int64_t index) override {
    return dataset_batch(dataset_, TokenSplit::Validation, batch_, replica_, dp_, index);
  }
  std::string describe() const override {
    const TokenDatasetInfo& i = dataset_.info();
    return fmt::format("token dataset {} ({}, {}, train {} x {}, validation {} x {})", i.path,
                       i.task, i.tokenizer, i.train_rows, i.seq_len, i.validation_rows, i.seq_len);
  }

 private:
  TokenDataset dataset_;
  int batch_, replica_, dp_;
};

}  // namespace

std::unique_ptr<BatchSource> make_dataset_batch_source(const Config& config, const Mesh& mesh) {
  return std::make_unique<DatasetBatches>(config, mesh);
}

}  // namespace zoptimus
