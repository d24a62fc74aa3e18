// The validated, per-replica token dataset reader (see token_dataset.hpp).
#include "io/token_dataset.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "core/error.hpp"
#include "io/hdf5_handles.hpp"

namespace zoptimus {

namespace {

// Opens an int32 dataset of rank 1 ([N]) or 2 ([N, cols]) and checks type and shape.
h5::Dataset open_int32(hid_t file, const std::string& name, int cols, const std::string& where,
                       std::int64_t& rows) {
  if (!h5::link_exists(file, name)) fail("{}: dataset {} is missing", where, name);
  h5::Dataset dset = h5::open_dataset(file, name);
  h5::Datatype type(ZOPTIMUS_H5(H5Dget_type(dset)));
  if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != 4 || H5Tget_sign(type) != H5T_SGN_2)
    fail("{}: {}: expected int32, found {}", where, name, h5::describe_type(type));
  const std::vector<std::int64_t> dims = h5::dataset_shape(dset);
  const int rank = static_cast<int>(dims.size());
  const std::string expected = cols > 0 ? fmt::format("[N, {}]", cols) : "[N]";
  std::string found = "rank " + std::to_string(rank);
  if (rank == 1) found = fmt::format("[{}]", dims[0]);
  if (rank == 2) found = fmt::format("[{}, {}]", dims[0], dims[1]);
  const bool ok = rank == (cols > 0 ? 2 : 1) && dims[0] >= 1 && (cols <= 0 || dims[1] == cols);
  if (!ok) fail("{}: {}: expected shape {} with N >= 1, found {}", where, name, expected, found);
  rows = dims[0];
  return dset;
}

// Reads rows [first, first + count) of an int32 dataset of `cols` columns (1 for [N]).
void read_rows(hid_t dset, std::int64_t first, std::int64_t count, int cols, int* out) {
  h5::Dataspace fspace(ZOPTIMUS_H5(H5Dget_space(dset)));
  const hsize_t start[2] = {static_cast<hsize_t>(first), 0};
  const hsize_t block[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(cols)};
  ZOPTIMUS_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, block, nullptr));
  const hsize_t n = static_cast<hsize_t>(count) * static_cast<hsize_t>(cols);
  h5::Dataspace mspace(ZOPTIMUS_H5(H5Screate_simple(1, &n, nullptr)));
  ZOPTIMUS_H5(H5Dread(dset, H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, out));
}

// Runs `body`; an error that does not name the file yet is prefixed with `where`.
template <class Body>
void in_file(const std::string& where, Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.rfind(where, 0) == 0) throw;
    fail("{}: {}", where, message);
  }
}

}  // namespace

struct TokenDataset::Handles {
  h5::File file;
  h5::Dataset train_tokens, val_tokens, train_labels, val_labels, train_last, val_last;
  h5::Dataset test_tokens, test_labels, test_last;
};

TokenDataset::TokenDataset(const std::string& path, const std::string& task, int seq_len,
                           int model_vocab, const std::string& model_tokenizer)
    : h_(std::make_unique<Handles>()) {
  info_.path = path;
  const std::string where = fmt::format("token dataset '{}'", path);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail("{} (data.path): is a directory, expected an HDF5 token dataset file", where);
  if (!std::filesystem::is_regular_file(path, ec))
    fail("{} (data.path): no such file; build one with `zoptimus data`", where);
  const h5::QuietErrors quiet_hdf5;
  in_file(where,
          [&] { open_and_validate(path, task, seq_len, model_vocab, model_tokenizer, where); });
}

void TokenDataset::open_and_validate(const std::string& path, const std::string& task, int seq_len,
                                     int model_vocab, const std::string& model_tokenizer,
                                     const std::string& where) {
  if (H5Fis_hdf5(path.c_str()) <= 0) fail("{}: not an HDF5 file", where);
  h5::PropList fapl(ZOPTIMUS_H5(H5Pcreate(H5P_FILE_ACCESS)));
#if H5_VERSION_GE(1, 10, 7)
  // Read-only opens from many ranks: skip file locks (unsupported on some parallel file systems).
  H5Pset_file_locking(fapl, false, true);
#endif
  h_->file = h5::try_open_file(path, H5F_ACC_RDONLY, fapl);
  if (!h_->file.valid()) fail("{}: cannot open it for reading", where);
  const hid_t f = h_->file.get();

  auto require_attr = [&](const char* name) {
    if (!h5::has_attribute(f, name))
      fail("{}: root attribute '{}' is missing; not a zoptimus token dataset (format \"{}\")",
           where, name, kTokenDatasetFormat);
  };
  require_attr("format");
  const std::string format = h5::read_string_attribute(f, "format");
  if (format != kTokenDatasetFormat)
    fail("{}: format = \"{}\", expected \"{}\"", where, format, kTokenDatasetFormat);
  for (const char* name : {"format_version", "task", "tokenizer", "vocab", "seq_len", "pad_id"})
    require_attr(name);
  const std::int64_t version = h5::read_int_attribute(f, "format_version");
  if (version != kTokenDatasetVersion)
    fail("{}: format_version = {}, this build reads version {}", where, version,
         kTokenDatasetVersion);
  info_.task = h5::read_string_attribute(f, "task");
  info_.tokenizer = h5::read_string_attribute(f, "tokenizer");
  info_.vocab = h5::read_int_attribute(f, "vocab");
  info_.seq_len = h5::read_int_attribute(f, "seq_len");
  info_.pad_id = h5::read_int_attribute(f, "pad_id");
  // Files written before bos_id/eos_id were recorded hold bytes-v1 ids (the only tokenizer then).
  for (auto [name, id] : {std::pair{"bos_id", &info_.bos_id}, std::pair{"eos_id", &info_.eos_id}})
    *id = h5::has_attribute(f, name) ? h5::read_int_attribute(f, name) : -1;
  if (!model_tokenizer.empty() && info_.tokenizer != model_tokenizer)
    fail(
        "{}: tokenizer = \"{}\" but the model uses model.tokenizer = \"{}\"; rebuild the "
        "dataset with the model's tokenizer (scripts/make_dataset.py --model MODEL_DIR)",
        where, info_.tokenizer, model_tokenizer);
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
  for (auto [name, id] : {std::pair{"bos_id", info_.bos_id}, std::pair{"eos_id", info_.eos_id}})
    if (id < -1 || id >= info_.vocab)
      fail("{}: {} = {} outside [0, vocab = {}) (or -1: none)", where, name, id, info_.vocab);
  for (const char* group : {"/train", "/validation"})
    if (!h5::link_exists(f, group))
      fail("{}: group {} is missing (expected /train and /validation)", where, group);

  h_->train_tokens = open_int32(f, "/train/tokens", seq_len, where, info_.train_rows);
  h_->val_tokens = open_int32(f, "/validation/tokens", seq_len, where, info_.validation_rows);
  const bool has_test = h5::link_exists(f, "/test");
  if (has_test) h_->test_tokens = open_int32(f, "/test/tokens", seq_len, where, info_.test_rows);
  if (task != "classification") return;
  std::int64_t n = 0;
  auto open_column = [&](const char* name, std::int64_t expected_rows) {
    h5::Dataset d = open_int32(f, name, 0, where, n);
    if (n != expected_rows)
      fail("{}: {}: expected [{}] (one per sequence), found [{}]", where, name, expected_rows, n);
    return d;
  };
  h_->train_labels = open_column("/train/labels", info_.train_rows);
  h_->train_last = open_column("/train/last_pos", info_.train_rows);
  h_->val_labels = open_column("/validation/labels", info_.validation_rows);
  h_->val_last = open_column("/validation/last_pos", info_.validation_rows);
  if (has_test) {
    h_->test_labels = open_column("/test/labels", info_.test_rows);
    h_->test_last = open_column("/test/last_pos", info_.test_rows);
  }
  h5::Dataset words = open_int32(f, "/label_words", 0, where, n);
  if (n < 2) fail("{}: /label_words: expected at least 2 label words, found {}", where, n);
  std::vector<int> w(static_cast<std::size_t>(n));
  read_rows(words, 0, n, 1, w.data());
  for (int t : w)
    if (t < 0 || t >= info_.vocab)
      fail("{}: /label_words: token {} outside [0, vocab = {})", where, t, info_.vocab);
  info_.label_words.assign(w.begin(), w.end());
}

TokenDataset::~TokenDataset() = default;

std::int64_t TokenDataset::rows(TokenSplit split) const {
  switch (split) {
    case TokenSplit::Train:
      return info_.train_rows;
    case TokenSplit::Validation:
      return info_.validation_rows;
    case TokenSplit::Test:
      return info_.test_rows;
  }
  return 0;
}

Batch TokenDataset::read(TokenSplit split, std::int64_t first, int count) const {
  ZOPTIMUS_ASSERT(first >= 0 && count >= 0);
  const bool classify = info_.task == "classification";
  const std::string where = fmt::format("token dataset '{}'", info_.path);
  const char* const groups[] = {"/train", "/validation", "/test"};
  const std::string group = groups[static_cast<int>(split)];
  const int seq = static_cast<int>(info_.seq_len);
  const std::int64_t n = rows(split);
  if (n == 0) fail("{}: the file has no {} split", where, group);
  const h5::Dataset* tokens[] = {&h_->train_tokens, &h_->val_tokens, &h_->test_tokens};
  const h5::Dataset* labels[] = {&h_->train_labels, &h_->val_labels, &h_->test_labels};
  const h5::Dataset* last[] = {&h_->train_last, &h_->val_last, &h_->test_last};
  const int k = static_cast<int>(split);
  Batch b;
  b.batch = count;
  b.seq = seq;
  b.tokens.resize(static_cast<std::size_t>(count) * seq);
  if (classify) {
    b.labels.resize(count);
    b.last_pos.resize(count);
    b.label_words.assign(info_.label_words.begin(), info_.label_words.end());
  }
  const h5::QuietErrors quiet_hdf5;
  // Global rows wrap modulo n; a batch may straddle the end (or, if count > n, wrap again).
  for (int done = 0; done < count;) {
    const std::int64_t start = (first + done) % n;
    const int take = static_cast<int>(std::min<std::int64_t>(count - done, n - start));
    in_file(where, [&] {
      read_rows(*tokens[k], start, take, seq,
                b.tokens.data() + static_cast<std::size_t>(done) * seq);
      if (classify) {
        read_rows(*labels[k], start, take, 1, b.labels.data() + done);
        read_rows(*last[k], start, take, 1, b.last_pos.data() + done);
      }
    });
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

void mask_sequences(Batch& b, int first_masked) {
  for (int s = std::max(first_masked, 0); s < b.batch; ++s) {
    std::fill(b.targets.begin() + static_cast<std::ptrdiff_t>(s) * b.seq,
              b.targets.begin() + static_cast<std::ptrdiff_t>(s + 1) * b.seq, -1);
    if (!b.labels.empty()) b.labels[s] = -1;
  }
}

Batch dataset_eval_batch(const TokenDataset& dataset, TokenSplit split, int batch, int replica,
                         int dp, std::int64_t index, std::int64_t limit) {
  const std::int64_t first = (index * dp + replica) * static_cast<std::int64_t>(batch);
  // Past the limit the rows read are placeholders (wrapped), masked out below.
  Batch b = dataset.read(split, first % dataset.rows(split), batch);
  mask_sequences(b, static_cast<int>(std::clamp<std::int64_t>(limit - first, 0, batch)));
  return b;
}

}  // namespace zoptimus
