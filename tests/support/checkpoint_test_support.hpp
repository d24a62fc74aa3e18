// Shared by the checkpoint tests and the crash driver: a small model with vocabulary padding,
// the meshes a checkpoint is read back on, sub-communicators and shared temporary folders.
#pragma once

#include <mpi.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "io/synthetic_data.hpp"
#include "model/transformer.hpp"

namespace zoptimus::checkpoint_test {

inline constexpr std::uint64_t kSeed = 5;
inline constexpr std::uint64_t kMomentumSeed = 77;
inline constexpr float kStd = 0.02f;
inline constexpr int kGlobalBatch = 12;  // divisible by every q and dp used below

// Sizes divide by 2, 3 and 4; the vocabulary does not (padding on every split mesh).
inline ModelConfig small_model(int hidden = 24) {
  ModelConfig m;
  m.vocab = 61;
  m.hidden = hidden;
  m.heads = 12;
  m.layers = 2;
  m.ffn = 48;
  m.max_positions = 16;
  return m;
}

inline Config small_config(int dp, const ModelConfig& model = small_model()) {
  Config c;
  c.model = model;
  c.data.batch = kGlobalBatch / dp;
  c.data.seq_len = 8;
  c.data.seed = 11;
  c.effective_toml = "# checkpoint test deck\n[model]\nvocab = 61\n";
  return c;
}

inline MeshShape two_d(int dp, int q) {
  MeshShape s;
  s.mode = MeshMode::TwoD;
  s.dp = dp;
  s.q = q;
  return s;
}

inline MeshShape one_d(int dp, int t) {
  MeshShape s;
  s.mode = MeshMode::OneD;
  s.dp = dp;
  s.t = t;
  return s;
}

// Every mesh a checkpoint is read back on (each rank count runs those that fit).
inline std::vector<MeshShape> read_meshes() {
  return {two_d(1, 1), one_d(1, 2), one_d(1, 3), two_d(1, 2), one_d(1, 4),
          two_d(2, 2), one_d(2, 4), two_d(1, 3), one_d(3, 3)};
}

// The first n ranks of MPI_COMM_WORLD (collective; comm is MPI_COMM_NULL on the others).
struct SubComm {
  MPI_Comm comm = MPI_COMM_NULL;
  explicit SubComm(int n) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_split(MPI_COMM_WORLD, rank < n ? 0 : MPI_UNDEFINED, rank, &comm);
  }
  ~SubComm() {
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
  }
  SubComm(const SubComm&) = delete;
  SubComm& operator=(const SubComm&) = delete;
  bool member() const { return comm != MPI_COMM_NULL; }
};

// The small model on a mesh (parameters allocated, not initialised).
struct ModelOnMesh {
  Config config;
  Mesh mesh;
  CommStats stats;
  Collectives comm;
  Transformer model;

  ModelOnMesh(MPI_Comm world, const MeshShape& shape, const ModelConfig& m)
      : config(small_config(shape.dp, m)),
        mesh(world, shape),
        comm(mesh, stats),
        model(ModelDims::from_config(m), mesh, comm, config.data.batch, config.data.seq_len) {}

  // Another store with the model's table on this mesh (momentum, references).
  ParameterStore new_store() const {
    return build_opt_parameters(ModelDims::from_config(config.model), mesh.shape(), mesh.coords());
  }
  // Mean LM loss of batch 0 over all replicas, with the given weights.
  double loss(const ParameterStore& weights) {
    Batch batch =
        synthetic_batch(config.data, config.model.vocab, mesh.replica(), mesh.shape().dp, 0);
    StoredWeights source(weights);
    return model.lm_loss(batch, source).mean();
  }
};

// A fresh folder made by world rank 0, known to every rank.
inline std::string shared_temp_dir(const std::string& tag) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::string dir(256, '\0');
  if (rank == 0) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / ("zoptimus-" + tag + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    dir.replace(0, pattern.size(), pattern);
  }
  MPI_Bcast(dir.data(), static_cast<int>(dir.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
  return dir.c_str();
}

inline void remove_shared_dir(const std::string& dir) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) std::filesystem::remove_all(dir);
}

}  // namespace zoptimus::checkpoint_test
