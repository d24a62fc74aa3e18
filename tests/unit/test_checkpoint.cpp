// Checkpoints written on a 2x2 mesh (1 rank when that is all there is) read back bit for bit
// on every mesh the rank count allows, with the same LM loss; optimizer state and an extra
// store round-trip; the series keeps the newest files.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "io/checkpoint.hpp"
#include "io/hdf5_handles.hpp"
#include "parallel/collective_guard.hpp"
#include "support/checkpoint_test_support.hpp"

namespace zoptimus {
namespace {

using namespace checkpoint_test;
namespace fs = std::filesystem;

// Runs the part of a test that only some ranks take, so that a failure there is reported
// without skipping the world-wide collectives that follow.
template <class Fn>
void guarded(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected error: " << e.what();
  }
}

CheckpointState sample_state() {
  CheckpointState s;
  s.step = 17;
  s.text = {{"method", "mezo"}, {"schedule", "cosine: warm-up 3"}, {"empty", ""}};
  s.reals = {{"sparse.thresholds", {0.5, -1e-300, 3.25}}, {"anderson.coeffs", {}}};
  s.integers = {{"seeds", {1, -2, 1LL << 40}}};
  return s;
}

// Bitwise equality of every local block (padding included) of two stores with one table.
void expect_same_blocks(const ParameterStore& got, const ParameterStore& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& t : want.tensors()) {
    auto a = Kokkos::create_mirror_view_and_copy(HostSpace(), got.data(t.id));
    auto b = Kokkos::create_mirror_view_and_copy(HostSpace(), want.data(t.id));
    ASSERT_EQ(a.size(), b.size()) << t.name;
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
        << t.name << " differs from the same-seed model on this mesh";
  }
}

TEST(Checkpoint, RoundTripOnEveryMesh) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string dir = shared_temp_dir("roundtrip");
  const std::string path = dir + "/ckpt.h5";
  const MeshShape writer = world >= 4 ? two_d(1, 2) : two_d(1, 1);
  double loss_before = 0;
  {
    SubComm sub(writer.world_size());
    if (sub.member())
      guarded([&] {
        ModelOnMesh w(sub.comm, writer, small_model());
        w.model.params().initialize(kSeed, kStd);
        ParameterStore momentum = w.new_store();
        momentum.initialize(kMomentumSeed, 0.5f);
        loss_before = w.loss(w.model.params());
        write_checkpoint(path, w.model.params(), w.mesh, w.config, sample_state(),
                         {{"momentum", &momentum}});
      });
  }
  MPI_Bcast(&loss_before, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  if (rank == 0)
    guarded([&] {
      const CheckpointInfo info = read_checkpoint_info(path);
      EXPECT_EQ(info.format_version, 1);
      EXPECT_EQ(info.step, 17);
      EXPECT_EQ(info.mesh, writer.describe());
      EXPECT_EQ(info.deck, small_config(1).effective_toml);
      EXPECT_EQ(info.model.vocab, 61);
      EXPECT_EQ(info.tensors.size(), 2u + 12u * 2u + 2u);
      EXPECT_EQ(info.tensors.front().first, "embed_tokens");
      EXPECT_EQ(info.tensors.front().second, (std::vector<std::int64_t>{61, 24}));
      EXPECT_EQ(info.extra.count("momentum"), 1u);
    });

  int cases_run = 0;
  for (const MeshShape& shape : read_meshes()) {
    if (shape.world_size() > world) continue;
    SubComm sub(shape.world_size());
    if (!sub.member()) continue;
    SCOPED_TRACE("read on " + shape.describe());
    ++cases_run;
    guarded([&] {
      ModelOnMesh r(sub.comm, shape, small_model());
      for (const auto& t : r.model.params().tensors())  // the read must overwrite everything
        Kokkos::deep_copy(r.model.params().data(t.id), 7.0f);
      ParameterStore momentum = r.new_store();
      const CheckpointState got =
          read_checkpoint(path, r.model.params(), r.mesh, r.config, {{"momentum", &momentum}});
      ParameterStore reference = r.new_store();
      reference.initialize(kSeed, kStd);
      expect_same_blocks(r.model.params(), reference);
      ParameterStore reference_momentum = r.new_store();
      reference_momentum.initialize(kMomentumSeed, 0.5f);
      expect_same_blocks(momentum, reference_momentum);

      const CheckpointState want = sample_state();
      EXPECT_EQ(got.step, want.step);
      EXPECT_EQ(got.text, want.text);
      EXPECT_EQ(got.reals, want.reals);
      EXPECT_EQ(got.integers, want.integers);

      // Same mesh, same weights: the loss is bitwise that of the same-seed model; across
      // meshes only the fp32 reduction order differs.
      const double loss = r.loss(r.model.params());
      EXPECT_EQ(loss, r.loss(reference));
      EXPECT_NEAR(loss, loss_before, 1e-6 * loss_before) << "written on " << writer.describe();
    });
  }
  EXPECT_GT(cases_run, 0);
  remove_shared_dir(dir);
}

// Every element, padding excepted, gets a distinct value from its global position, so a
// block its owner failed to write (biases and LayerNorm start as 0 and 1) cannot go unseen.
void fill_global_pattern(ParameterStore& store) {
  for (const auto& t : store.tensors()) {
    auto host = Kokkos::create_mirror_view(store.data(t.id));
    Kokkos::deep_copy(host, 0.0f);
    for (std::int64_t i = 0; i < t.valid_rows(); ++i)
      for (std::int64_t j = 0; j < t.valid_cols(); ++j)
        host(i, j) = static_cast<float>(100000 * (t.id + 1) + (t.row_offset() + i) * t.cols +
                                        t.col_offset() + j);
    Kokkos::deep_copy(store.data(t.id), host);
  }
}

// Writers on every mesh (replicas, 1D replicated tensors, uneven vocabulary blocks) cover
// each element exactly once: one rank reads back the whole model.
TEST(Checkpoint, WrittenOnEveryMeshReadOnOneRank) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const std::string dir = shared_temp_dir("writers");
  int index = 0;
  for (const MeshShape& shape : read_meshes()) {
    if (shape.world_size() > world) continue;
    const std::string path = dir + "/written_" + std::to_string(index++) + ".h5";
    {
      SubComm sub(shape.world_size());
      if (sub.member())
        guarded([&] {
          ModelOnMesh w(sub.comm, shape, small_model());
          fill_global_pattern(w.model.params());
          write_checkpoint(path, w.model.params(), w.mesh, w.config, CheckpointState{});
        });
    }
    SubComm one(1);
    if (one.member())
      guarded([&] {
        SCOPED_TRACE("written on " + shape.describe());
        ModelOnMesh r(one.comm, two_d(1, 1), small_model());
        read_checkpoint(path, r.model.params(), r.mesh, r.config);
        ParameterStore reference = r.new_store();
        fill_global_pattern(reference);
        expect_same_blocks(r.model.params(), reference);
        EXPECT_EQ(read_checkpoint_info(path).mesh, shape.describe());
      });
  }
  remove_shared_dir(dir);
}

// fn must throw the same agreed zoptimus::Error on every rank, containing `fragment`; a
// problem with the file is every rank's (`every_rank`), a NaN only its holder's.
template <class Fn>
void expect_agreed_error(Fn&& fn, const std::string& fragment, bool every_rank = true) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const AgreedError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message: " << e.what() << "\nexpected fragment: " << fragment;
    EXPECT_EQ(e.all_ranks_failed(), every_rank) << e.what();
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) std::printf("  agreed error: %s\n", e.what());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an agreed error (ranks could disagree): " << e.what();
  }
}

// A copy of `good` edited with the HDF5 C API.
void edit_copy(const std::string& good, const std::string& bad,
               const std::function<void(hid_t)>& edit) {
  fs::copy_file(good, bad, fs::copy_options::overwrite_existing);
  h5::File file(ZOPTIMUS_H5(H5Fopen(bad.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)));
  edit(file);
}

void replace_dataset(hid_t file, const std::string& name, hid_t type, std::vector<hsize_t> dims) {
  ZOPTIMUS_H5(H5Ldelete(file, name.c_str(), H5P_DEFAULT));
  h5::Dataspace space(
      ZOPTIMUS_H5(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)));
  h5::Dataset d(ZOPTIMUS_H5(
      H5Dcreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)));
}

TEST(Checkpoint, BadFilesGiveOneClearErrorOnEveryRank) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const std::string dir = shared_temp_dir("badfiles");
  const MeshShape shape = world >= 4 ? two_d(1, 2) : two_d(1, 1);
  {
    SubComm sub(shape.world_size());
    if (sub.member())
      guarded([&] {
        ModelOnMesh w(sub.comm, shape, small_model());
        w.model.params().initialize(kSeed, kStd);
        ParameterStore& params = w.model.params();
        const std::string good = dir + "/good.h5";
        write_checkpoint(good, params, w.mesh, w.config, CheckpointState{});
        auto bad = [&](const char* name) { return dir + "/" + name; };
        if (w.mesh.world_rank() == 0) {
          const h5::QuietErrors quiet_hdf5;
          fs::copy_file(good, bad("truncated.h5"));
          fs::resize_file(bad("truncated.h5"), fs::file_size(good) / 2);
          std::ofstream(bad("text.h5")) << "step = 3\nthis is not HDF5\n";
          edit_copy(good, bad("version.h5"),
                    [](hid_t f) { h5::write_attribute(f, "format_version", std::int64_t{2}); });
          edit_copy(good, bad("format.h5"), [](hid_t f) {
            h5::write_attribute(f, "format", std::string("something-else"));
          });
          edit_copy(good, bad("family.h5"), [](hid_t f) {
            h5::Group model(ZOPTIMUS_H5(H5Gopen2(f, "model", H5P_DEFAULT)));
            h5::write_attribute(model, "family", std::string("llama"));
          });
          // A file from before the family attribute: must load, as "opt".
          edit_copy(good, bad("no_family.h5"), [](hid_t f) {
            ZOPTIMUS_H5(H5Adelete_by_name(f, "model", "family", H5P_DEFAULT));
          });
          edit_copy(good, bad("missing.h5"), [](hid_t f) {
            ZOPTIMUS_H5(H5Ldelete(f, "params/layers.1.fc2.bias", H5P_DEFAULT));
          });
          edit_copy(good, bad("shape.h5"), [](hid_t f) {
            replace_dataset(f, "params/layers.0.fc1.weight", H5T_IEEE_F32LE, {24, 40});
          });
          edit_copy(good, bad("dtype.h5"), [](hid_t f) {
            replace_dataset(f, "params/layers.0.qkv.bias", H5T_IEEE_F64LE, {72});
          });
        }
        MPI_Barrier(sub.comm);
        const std::pair<std::string, std::string> cases[] = {
            {bad("absent.h5"), "no such file"},
            {bad("truncated.h5"), "truncated"},
            {bad("text.h5"), "not an HDF5 file"},
            {bad("version.h5"), "format_version = 2, expected 1"},
            {bad("family.h5"), "/model family = \"llama\", but this build implements only \"opt\""},
            {bad("format.h5"), "format = \"something-else\", expected \"zoptimus-checkpoint\""},
            {bad("missing.h5"), "missing tensor '/params/layers.1.fc2.bias' (expected shape [24])"},
            {bad("shape.h5"),
             "tensor '/params/layers.0.fc1.weight' has shape [24, 40], expected [24, 48]"},
            {bad("dtype.h5"),
             "tensor '/params/layers.0.qkv.bias' has dtype float64, expected float32"},
        };
        for (const auto& item : cases) {
          // Named references, not a structured binding: the lambdas below capture them.
          const std::string& file = item.first;
          const std::string& fragment = item.second;
          SCOPED_TRACE(file);
          expect_agreed_error([&] { read_checkpoint(file, params, w.mesh, w.config); }, fragment);
          expect_agreed_error([&] { read_checkpoint(file, params, w.mesh, w.config); },
                              "checkpoint '" + file + "'");
        }
        {
          SCOPED_TRACE("family recorded, and assumed for files without it");
          if (w.mesh.world_rank() == 0) {
            EXPECT_EQ(read_checkpoint_info(good).model.family, "opt");
            EXPECT_EQ(read_checkpoint_info(bad("no_family.h5")).model.family, "opt");
          }
          ModelOnMesh back(sub.comm, shape, small_model());
          EXPECT_NO_THROW(
              read_checkpoint(bad("no_family.h5"), back.model.params(), back.mesh, back.config));
          for (const auto& t : params.tensors()) {  // the weights come back bit for bit
            auto want = Kokkos::create_mirror_view_and_copy(HostSpace(), params.data(t.id));
            auto got =
                Kokkos::create_mirror_view_and_copy(HostSpace(), back.model.params().data(t.id));
            EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
                << t.name;
          }
        }
        {
          SCOPED_TRACE("model dims differ from the deck");
          ModelOnMesh wider(sub.comm, shape, small_model(36));
          expect_agreed_error(
              [&] { read_checkpoint(good, wider.model.params(), wider.mesh, wider.config); },
              "/model hidden = 24, but the deck has model.hidden = 36");
        }
        {
          SCOPED_TRACE("extra store asked for but absent");
          ParameterStore momentum = w.new_store();
          expect_agreed_error(
              [&] {
                read_checkpoint(good, params, w.mesh, w.config, {{"momentum", &momentum}});
              },
              "missing optimizer store '/optim/momentum'");
        }
        {
          SCOPED_TRACE("NaN parameter on the last rank");
          if (w.mesh.world_rank() == shape.world_size() - 1) {
            Matrix block = params.data("layers.1.out.weight");
            auto host = Kokkos::create_mirror_view_and_copy(HostSpace(), block);
            host(0, 0) = std::nanf("");
            Kokkos::deep_copy(block, host);
          }
          const std::string nan_path = bad("nan.h5");
          expect_agreed_error(
              [&] { write_checkpoint(nan_path, params, w.mesh, w.config, {}); },
              "tensor '/params/layers.1.out.weight' holds 1 NaN/Inf value(s) on rank " +
                  std::to_string(shape.world_size() - 1),
              shape.world_size() == 1);
          MPI_Barrier(sub.comm);
          EXPECT_FALSE(fs::exists(nan_path));
          EXPECT_FALSE(fs::exists(nan_path + ".tmp"));
        }
      });
  }
  remove_shared_dir(dir);
}

TEST(Checkpoint, SeriesKeepsNewestAndIgnoresTmp) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string dir = shared_temp_dir("series");
  if (rank == 0)
    guarded([&] {
      CheckpointSeries series(dir, 2, MPI_COMM_SELF);
      EXPECT_EQ(series.latest(), "");
      EXPECT_EQ(fs::path(series.path_for(42)).filename(), "ckpt_00000042.h5");
      auto touch = [](const std::string& p) {
        std::FILE* f = std::fopen(p.c_str(), "w");
        std::fclose(f);
      };
      for (int step : {1, 2, 3}) touch(series.path_for(step));
      touch(series.path_for(2) + ".tmp");  // an interrupted earlier write
      touch(series.path_for(9) + ".tmp");  // being written: newer, but not complete
      touch(dir + "/notes.h5");
      // Empty files under checkpoint names do not validate: latest() skips every one of them
      // (cli/disk_full.py shows it picking the newest valid file over a damaged newer one).
      EXPECT_EQ(series.latest(), "");
      series.saved(series.path_for(3));
      EXPECT_FALSE(fs::exists(series.path_for(1)));
      EXPECT_TRUE(fs::exists(series.path_for(2)));
      EXPECT_TRUE(fs::exists(series.path_for(3)));
      EXPECT_FALSE(fs::exists(series.path_for(2) + ".tmp"));
      EXPECT_TRUE(fs::exists(series.path_for(9) + ".tmp"));
      EXPECT_TRUE(fs::exists(dir + "/notes.h5"));
    });
  remove_shared_dir(dir);
}

}  // namespace
}  // namespace zoptimus
