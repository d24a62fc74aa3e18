// Token datasets: tokenizer, LM windows, classification rows, HDF5 round trip, per-replica
// reads that match the single-replica batch, and one clear error per bad file.
#include <hdf5.h>
#include <mpi.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "io/batch_source.hpp"
#include "io/dataset_batch_source.hpp"
#include "io/token_dataset.hpp"
#include "io/token_dataset_writer.hpp"
#include "io/tokenizer_bytes.hpp"
#include "parallel/collective_guard.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {
namespace {

namespace fs = std::filesystem;
using bytes_v1::kBos;
using bytes_v1::kEos;
using bytes_v1::kPad;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// One temporary directory shared by all ranks (made by rank 0), removed at exit.
const std::string& shared_dir() {
  static std::string dir = [] {
    std::string path;
    if (world_rank() == 0) {
      std::string tmpl = (fs::temp_directory_path() / "zoptimus-dataset-XXXXXX").string();
      path = mkdtemp(tmpl.data());
    }
    int n = static_cast<int>(path.size());
    MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
    path.resize(n);
    MPI_Bcast(path.data(), n, MPI_CHAR, 0, MPI_COMM_WORLD);
    return path;
  }();
  return dir;
}

// Removes the shared directory at the end of the run, while MPI is still up.
class RemoveSharedDir : public ::testing::Environment {
 public:
  void TearDown() override {
    MPI_Barrier(MPI_COMM_WORLD);
    std::error_code ec;
    if (world_rank() == 0) fs::remove_all(shared_dir(), ec);
  }
};
::testing::Environment* const remove_shared_dir =
    ::testing::AddGlobalTestEnvironment(new RemoveSharedDir);

// Runs fn on rank 0 only (file writes), then lets every rank see the result.
template <class Fn>
void on_rank0(Fn&& fn) {
  run_collectively(MPI_COMM_WORLD, [&] {
    if (world_rank() == 0) fn();
  });
  MPI_Barrier(MPI_COMM_WORLD);
}

// Distinct rows: row r holds r*10 + position (< 260 for the sizes used here).
TokenRows numbered_rows(int rows, int seq, int offset) {
  TokenRows out;
  out.rows = rows;
  for (int r = 0; r < rows; ++r)
    for (int p = 0; p < seq; ++p) out.tokens.push_back((offset + r * 7 + p) % 256);
  return out;
}

TokenDatasetContents lm_contents(int seq, int train_rows = 13, int validation_rows = 5) {
  TokenDatasetContents c;
  c.task = "lm";
  c.seq_len = seq;
  c.train = numbered_rows(train_rows, seq, 0);
  c.validation = numbered_rows(validation_rows, seq, 100);
  return c;
}

std::string write_lm(const std::string& name, int seq = 8) {
  const std::string path = shared_dir() + "/" + name;
  on_rank0([&] { write_token_dataset(path, lm_contents(seq), true); });
  return path;
}

// Expects constructing the dataset to throw one Error containing every fragment.
void expect_open_error(const std::string& path, const std::vector<std::string>& fragments,
                       const std::string& task = "lm", int seq = 8, int vocab = 260) {
  try {
    TokenDataset ds(path, task, seq, vocab);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    for (const std::string& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "message lacks '" << f << "': " << e.what();
  }
}

void with_file(const std::string& path, void (*edit)(hid_t)) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  edit(f);
  H5Fclose(f);
}

void set_int_attr(hid_t f, const char* name, std::int64_t value) {
  H5Adelete(f, name);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &value);
  H5Aclose(a);
  H5Sclose(space);
}

TEST(TokenDataset, ByteTokenizerRoundTrip) {
  const std::string text = "Hello, world\n\ttabs and \xc3\xa9 UTF-8 \xff";
  const std::vector<std::int32_t> tokens = bytes_v1::encode(text);
  ASSERT_EQ(tokens.size(), text.size());
  EXPECT_EQ(tokens[0], 'H');
  EXPECT_EQ(tokens.back(), 255);
  for (std::int32_t t : tokens) EXPECT_TRUE(t >= 0 && t < 256);
  EXPECT_EQ(bytes_v1::decode(tokens), text);
  EXPECT_EQ(bytes_v1::decode({kBos, 'a', kPad, 'b', kEos}), "ab");
  EXPECT_EQ(bytes_v1::kVocab, 260);
}

TEST(TokenDataset, LmWindowsAndTargets) {
  const TokenRows rows = lm_windows({"ab", "cde"}, 4);
  // Stream: BOS a b EOS BOS c d e EOS -> 3 windows of 4, the last padded.
  ASSERT_EQ(rows.rows, 3);
  const std::vector<std::int32_t> expected = {kBos, 'a', 'b',  kEos, kBos, 'c',
                                              'd',  'e', kEos, kPad, kPad, kPad};
  EXPECT_EQ(rows.tokens, expected);
  EXPECT_TRUE(rows.labels.empty());
  const std::vector<int> tokens(rows.tokens.begin(), rows.tokens.end());
  const std::vector<int> targets = next_token_targets(tokens, 4, kPad);
  const std::vector<int> want = {'a', 'b', kEos, -1, 'c', 'd', 'e', -1, -1, -1, -1, -1};
  EXPECT_EQ(targets, want);
  EXPECT_THROW(lm_windows({"x"}, 1), Error);
}

TEST(TokenDataset, ClassificationRows) {
  const std::vector<std::string> names = {"negative", "positive"};
  EXPECT_EQ(label_words_for(names), (std::vector<std::int32_t>{'n', 'p'}));
  const TokenRows rows = classification_rows(
      {{"good", "positive", "t:1"}, {"a very long prompt", "negative", "t:2"}}, names, 6);
  ASSERT_EQ(rows.rows, 2);
  const std::vector<std::int32_t> expected = {kBos, 'g', 'o', 'o', 'd', kPad,
                                              kBos, 'a', ' ', 'v', 'e', 'r'};
  EXPECT_EQ(rows.tokens, expected);
  EXPECT_EQ(rows.last_pos, (std::vector<std::int32_t>{4, 5}));  // truncated: last position
  EXPECT_EQ(rows.labels, (std::vector<std::int32_t>{1, 0}));
  EXPECT_THROW(label_words_for({"pos", "positive"}), Error);
  EXPECT_THROW(label_words_for({"only"}), Error);
  try {
    classification_rows({{"fine", "neutral", "f.tsv:3"}}, names, 6);
    ADD_FAILURE() << "unknown label accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f.tsv:3: unknown label 'neutral'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(classification_rows({{"", "positive", "f.tsv:4"}}, names, 6), Error);
}

TEST(TokenDataset, SplitIsEvenAndDeterministic) {
  const TokenRows all = numbered_rows(20, 3, 0);
  TokenRows train, validation;
  split_rows(all, 3, 0.1, train, validation);
  EXPECT_EQ(train.rows, 18);
  EXPECT_EQ(validation.rows, 2);
  // Held-out rows are 9 and 19 (evenly spread).
  EXPECT_EQ(validation.tokens[0], all.tokens[9 * 3]);
  EXPECT_EQ(validation.tokens[3], all.tokens[19 * 3]);
  split_rows(numbered_rows(2, 3, 0), 3, 0.01, train, validation);
  EXPECT_EQ(train.rows, 1);
  EXPECT_EQ(validation.rows, 1);
  EXPECT_THROW(split_rows(numbered_rows(1, 3, 0), 3, 0.1, train, validation), Error);
  EXPECT_THROW(split_rows(all, 3, 0.0, train, validation), Error);
  EXPECT_THROW(split_rows(all, 3, 1.0, train, validation), Error);
}

TEST(TokenDataset, LmFileRoundTrip) {
  const std::string path = write_lm("lm.h5");
  TokenDataset ds(path, "lm", 8, 260);
  EXPECT_EQ(ds.info().vocab, 260);
  EXPECT_EQ(ds.info().tokenizer, "bytes-v1");
  EXPECT_EQ(ds.info().pad_id, kPad);
  EXPECT_EQ(ds.rows(TokenSplit::Train), 13);
  EXPECT_EQ(ds.rows(TokenSplit::Validation), 5);
  const TokenDatasetContents c = lm_contents(8);
  // Rows 11, 12, then wrap to 0, 1.
  const Batch b = ds.read(TokenSplit::Train, 11, 4);
  ASSERT_EQ(b.tokens.size(), 32u);
  for (int s = 0; s < 4; ++s)
    for (int p = 0; p < 8; ++p)
      EXPECT_EQ(b.tokens[s * 8 + p], c.train.tokens[((11 + s) % 13) * 8 + p]);
  EXPECT_EQ(b.targets, next_token_targets(b.tokens, 8, kPad));
  const Batch v = ds.read(TokenSplit::Validation, 0, 1);
  EXPECT_EQ(v.tokens,
            std::vector<int>(c.validation.tokens.begin(), c.validation.tokens.begin() + 8));
  EXPECT_TRUE(v.labels.empty());
  // A batch larger than the split wraps more than once.
  const Batch big = ds.read(TokenSplit::Validation, 3, 12);
  for (int s = 0; s < 12; ++s) EXPECT_EQ(big.tokens[s * 8], c.validation.tokens[((3 + s) % 5) * 8]);
}

TEST(TokenDataset, ClassificationFileRoundTrip) {
  const std::string path = shared_dir() + "/cls.h5";
  const std::vector<std::string> names = {"negative", "positive"};
  std::vector<LabeledText> examples;
  for (int i = 0; i < 10; ++i)
    examples.push_back(
        {i % 2 ? "this was great" : "this was awful", i % 2 ? "positive" : "negative", "x"});
  TokenDatasetContents c;
  c.task = "classification";
  c.seq_len = 16;
  c.label_names = names;
  c.label_words = label_words_for(names);
  split_rows(classification_rows(examples, names, 16), 16, 0.2, c.train, c.validation);
  on_rank0([&] { write_token_dataset(path, c, true); });
  TokenDataset ds(path, "classification", 16, 512);
  EXPECT_EQ(ds.info().label_words, (std::vector<std::int32_t>{'n', 'p'}));
  const Batch b = ds.read(TokenSplit::Train, 0, static_cast<int>(c.train.rows));
  EXPECT_EQ(b.labels, std::vector<int>(c.train.labels.begin(), c.train.labels.end()));
  EXPECT_EQ(b.last_pos, std::vector<int>(c.train.last_pos.begin(), c.train.last_pos.end()));
  EXPECT_EQ(b.label_words, (std::vector<int>{'n', 'p'}));
  for (int s = 0; s < b.batch; ++s) {
    EXPECT_EQ(b.tokens[s * 16], kBos);
    EXPECT_EQ(b.last_pos[s], 14);  // BOS + 14 bytes
    EXPECT_EQ(b.tokens[s * 16 + 15], kPad);
    EXPECT_EQ(b.labels[s], b.tokens[s * 16 + 10] == 'g' ? 1 : 0);
  }
  EXPECT_EQ(ds.rows(TokenSplit::Validation), 2);
  expect_open_error(path, {"task = \"classification\"", "data.task = \"lm\""}, "lm", 16);
}

TEST(TokenDataset, ReplicaReadsItsRowsOfTheGlobalBatch) {
  const std::string path = write_lm("replicas.h5");
  TokenDataset ds(path, "lm", 8, 260);
  const int B = 3;
  for (TokenSplit split : {TokenSplit::Train, TokenSplit::Validation}) {
    for (std::int64_t index = 0; index < 7; ++index) {
      const Batch whole = dataset_batch(ds, split, 2 * B, 0, 1, index);
      for (int d = 0; d < 2; ++d) {
        const Batch part = dataset_batch(ds, split, B, d, 2, index);
        ASSERT_EQ(part.batch, B);
        const auto first = whole.tokens.begin() + d * B * 8;
        EXPECT_EQ(part.tokens, std::vector<int>(first, first + B * 8))
            << "index " << index << " replica " << d;
        const auto tfirst = whole.targets.begin() + d * B * 8;
        EXPECT_EQ(part.targets, std::vector<int>(tfirst, tfirst + B * 8));
      }
    }
  }
}

TEST(TokenDataset, BatchSourceOnTheMeshMatchesOneReplica) {
  // Every rank is its own replica (dp = world size, 1x1 model mesh).
  const std::string path = write_lm("mesh.h5");
  const int dp = world_size();
  Config config;
  config.data.path = path;
  config.data.task = Task::Lm;
  config.data.batch = 2;
  config.data.seq_len = 8;
  config.model.vocab = 260;
  config.parallel.dp = dp;
  Mesh mesh(MPI_COMM_WORLD, resolve_mesh_shape(config.parallel, dp));
  auto source = run_collectively(MPI_COMM_WORLD, [&] { return make_batch_source(config, mesh); });
  EXPECT_NE(source->describe().find("mesh.h5"), std::string::npos);
  TokenDataset ds(path, "lm", 8, 260);
  for (std::int64_t index = 0; index < 5; ++index) {
    const Batch whole = dataset_batch(ds, TokenSplit::Train, 2 * dp, 0, 1, index);
    const Batch mine = source->train_batch(index);
    const auto first = whole.tokens.begin() + mesh.replica() * 2 * 8;
    EXPECT_EQ(mine.tokens, std::vector<int>(first, first + 16)) << "index " << index;
    const Batch held = source->eval_batch(index);
    const Batch held_whole = dataset_batch(ds, TokenSplit::Validation, 2 * dp, 0, 1, index);
    const auto hfirst = held_whole.tokens.begin() + mesh.replica() * 2 * 8;
    EXPECT_EQ(held.tokens, std::vector<int>(hfirst, hfirst + 16));
  }
}

TEST(TokenDataset, BadFilesGiveOneClearError) {
  const std::string dir = shared_dir();
  expect_open_error(dir + "/missing.h5", {"missing.h5", "no such file"});

  on_rank0([&] { std::ofstream(dir + "/text.h5") << "not hdf5\n"; });
  expect_open_error(dir + "/text.h5", {"text.h5", "not an HDF5 file"});

  const std::string version = write_lm("version.h5");
  on_rank0([&] { with_file(version, [](hid_t f) { set_int_attr(f, "format_version", 2); }); });
  expect_open_error(version, {"version.h5", "format_version = 2", "reads version 1"});

  const std::string seq = write_lm("seq.h5", 16);
  expect_open_error(seq, {"seq.h5", "seq_len = 16", "data.seq_len = 8"});

  const std::string vocab = write_lm("vocab.h5");
  expect_open_error(vocab, {"vocab.h5", "vocab = 260", "model.vocab = 64"}, "lm", 8, 64);

  const std::string noval = write_lm("noval.h5");
  on_rank0([&] { with_file(noval, [](hid_t f) { H5Ldelete(f, "/validation", H5P_DEFAULT); }); });
  expect_open_error(noval, {"noval.h5", "/validation is missing"});

  const std::string noformat = write_lm("noformat.h5");
  on_rank0([&] { with_file(noformat, [](hid_t f) { H5Adelete(f, "format"); }); });
  expect_open_error(noformat, {"'format' is missing", "zoptimus-tokens"});

  const std::string dtype = write_lm("dtype.h5");
  on_rank0([&] {
    with_file(dtype, [](hid_t f) {
      H5Ldelete(f, "/train/tokens", H5P_DEFAULT);
      hsize_t dims[2] = {4, 8};
      std::vector<std::int64_t> data(32, 1);
      hid_t space = H5Screate_simple(2, dims, nullptr);
      hid_t d = H5Dcreate2(f, "/train/tokens", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                           H5P_DEFAULT);
      H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
      H5Dclose(d);
      H5Sclose(space);
    });
  });
  expect_open_error(dtype, {"/train/tokens", "expected int32, found int64"});

  // Through the BatchSource seam: the same single message on every rank.
  Config config;
  config.data.path = version;
  config.data.seq_len = 8;
  config.model.vocab = 260;
  config.parallel.dp = world_size();
  Mesh mesh(MPI_COMM_WORLD, resolve_mesh_shape(config.parallel, world_size()));
  try {
    run_collectively(MPI_COMM_WORLD, [&] { return make_batch_source(config, mesh); });
    ADD_FAILURE() << "bad file accepted";
  } catch (const AgreedError& e) {
    EXPECT_TRUE(e.all_ranks_failed());
    EXPECT_NE(std::string(e.what()).find("format_version = 2"), std::string::npos) << e.what();
  }
}

TEST(TokenDataset, WriterRefusesToOverwrite) {
  const std::string path = write_lm("keep.h5");
  on_rank0([&] {
    EXPECT_THROW(write_token_dataset(path, lm_contents(8), false), Error);
    EXPECT_FALSE(fs::exists(path + ".tmp"));
  });
  TokenDataset ds(path, "lm", 8, 260);  // still intact
  EXPECT_EQ(ds.rows(TokenSplit::Train), 13);
}

}  // namespace
}  // namespace zoptimus
