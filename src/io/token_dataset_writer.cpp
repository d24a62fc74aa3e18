// The token dataset writer (see token_dataset_writer.hpp).
#include "io/token_dataset_writer.hpp"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "io/hdf5_handles.hpp"
#include "io/token_dataset_format.hpp"
#include "io/tokenizer_bytes.hpp"

namespace zoptimus {
namespace {

void write_int32_dataset(hid_t loc, const char* name, const std::vector<hsize_t>& dims,
                         const std::vector<std::int32_t>& data) {
  h5::Dataspace space(
      ZOPTIMUS_H5(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)));
  // No object timestamps: the same inputs give the same file bytes (reproducible demo data).
  h5::PropList dcpl(ZOPTIMUS_H5(H5Pcreate(H5P_DATASET_CREATE)));
  ZOPTIMUS_H5(H5Pset_obj_track_times(dcpl, false));
  h5::Dataset dset(
      ZOPTIMUS_H5(H5Dcreate2(loc, name, H5T_STD_I32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)));
  ZOPTIMUS_H5(H5Dwrite(dset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()));
}

void write_split(hid_t file, const char* group, const TokenRows& rows, int seq_len, bool classify) {
  h5::PropList gcpl(ZOPTIMUS_H5(H5Pcreate(H5P_GROUP_CREATE)));
  ZOPTIMUS_H5(H5Pset_obj_track_times(gcpl, false));
  h5::Group g(ZOPTIMUS_H5(H5Gcreate2(file, group, H5P_DEFAULT, gcpl, H5P_DEFAULT)));
  const auto n = static_cast<hsize_t>(rows.rows);
  write_int32_dataset(g, "tokens", {n, static_cast<hsize_t>(seq_len)}, rows.tokens);
  if (!classify) return;
  write_int32_dataset(g, "labels", {n}, rows.labels);
  write_int32_dataset(g, "last_pos", {n}, rows.last_pos);
}

void write_contents(const std::string& tmp, const TokenDatasetContents& c, bool classify) {
  h5::File file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!file.valid()) fail("cannot create '{}' (does the directory exist and is it writable?)", tmp);
  h5::write_attribute(file, "format", std::string(kTokenDatasetFormat));
  h5::write_attribute(file, "format_version", kTokenDatasetVersion);
  h5::write_attribute(file, "task", c.task);
  h5::write_attribute(file, "tokenizer", c.tokenizer);
  h5::write_attribute(file, "vocab", c.vocab);
  h5::write_attribute(file, "seq_len", std::int64_t{c.seq_len});
  h5::write_attribute(file, "pad_id", c.pad_id);
  h5::write_attribute(file, "bos_id", c.bos_id);
  h5::write_attribute(file, "eos_id", c.eos_id);
  if (!c.source.empty()) h5::write_attribute(file, "source", c.source);
  write_split(file, "/train", c.train, c.seq_len, classify);
  write_split(file, "/validation", c.validation, c.seq_len, classify);
  if (c.test.rows > 0) write_split(file, "/test", c.test, c.seq_len, classify);
  if (classify) {
    write_int32_dataset(file, "label_words", {c.label_words.size()}, c.label_words);
    if (!c.label_names.empty())
      h5::write_attribute(file, "label_names", fmt::format("{}", fmt::join(c.label_names, ",")));
  }
  ZOPTIMUS_H5(H5Fflush(file, H5F_SCOPE_GLOBAL));
  file.close();  // the close writes the metadata: its failure is a failed write
}

}  // namespace

void write_token_dataset(const std::string& path, const TokenDatasetContents& c, bool overwrite) {
  namespace fs = std::filesystem;
  const bool classify = c.task == "classification";
  if (c.task != "lm" && !classify)
    fail("task = '{}': expected \"lm\" or \"classification\"", c.task);
  if (c.seq_len < 2) fail("seq_len = {}: must be at least 2", c.seq_len);
  if (c.tokenizer.empty()) fail("the tokenizer name is empty");
  if (c.vocab < 1) fail("vocab = {}: must be at least 1", c.vocab);
  if (c.pad_id < 0 || c.pad_id >= c.vocab)
    fail("pad id {} outside [0, vocab = {})", c.pad_id, c.vocab);
  for (std::int64_t id : {c.bos_id, c.eos_id})
    if (id < -1 || id >= c.vocab) fail("special id {} outside [0, vocab = {})", id, c.vocab);
  for (const TokenRows* r : {&c.train, &c.validation, &c.test}) {
    const auto n = static_cast<std::size_t>(r->rows);
    if (r == &c.test && n == 0) continue;
    ZOPTIMUS_ASSERT(r->rows >= 1 && r->tokens.size() == n * c.seq_len);
    ZOPTIMUS_ASSERT(!classify || (r->labels.size() == n && r->last_pos.size() == n));
    for (std::int32_t t : r->tokens)
      if (t < 0 || t >= c.vocab) fail("token {} outside [0, vocab = {})", t, c.vocab);
    for (std::size_t i = 0; classify && i < n; ++i) {
      if (r->labels[i] < 0 || r->labels[i] >= static_cast<std::int32_t>(c.label_words.size()))
        fail("label {} outside [0, {} label words)", r->labels[i], c.label_words.size());
      if (r->last_pos[i] < 0 || r->last_pos[i] >= c.seq_len)
        fail("last_pos {} outside [0, seq_len = {})", r->last_pos[i], c.seq_len);
    }
  }
  if (classify && c.label_words.size() < 2) fail("classification needs at least 2 label words");
  for (std::int32_t w : c.label_words)
    if (w < 0 || w >= c.vocab) fail("label word {} outside [0, vocab = {})", w, c.vocab);
  std::error_code ec;
  if (fs::exists(path, ec) && !overwrite)
    fail("output file '{}' exists; refusing to overwrite it (pass --force to replace it)", path);

  const std::string tmp = path + ".tmp";
  const h5::QuietErrors quiet_hdf5;
  try {
    write_contents(tmp, c, classify);
  } catch (const Error& e) {
    fs::remove(tmp, ec);
    fail("HDF5 file '{}': {}", tmp, e.what());
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  }
}

}  // namespace zoptimus
