// Run configuration: the sections of an input deck ([model] [parallel] [optim] [data] [run]
// [io]) as plain structs, with the defaults a new user gets when a key is left out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/choices.hpp"

namespace zoptimus {

struct ModelConfig {
  std::string name = "custom";
  // The tokenizer the model was trained with (e.g. "hf:<fingerprint>", written by
  // scripts/hf_import_opt.py); "" = not stated. When set, a dataset made with another
  // tokenizer is refused.
  std::string tokenizer;
  int vocab = 512;  // padded up to a multiple of the mesh side when partitioned
  int hidden = 64;
  int heads = 4;
  int layers = 2;
  int ffn = 256;
  int max_positions = 128;                   // learned positions; OPT stores max_positions + 2 rows
  Activation activation = Activation::Relu;  // "relu" (OPT) or "gelu"
  double init_std = 0.02;
  double layernorm_eps = 1e-5;
  std::int64_t seed = 1234;  // initialisation seed (function of global indices only)
  // The LM head and its loss run over this many of a rank's tokens at a time, so the logits
  // held are [chunk, local vocab], never [tokens, local vocab] (docs/design.md, "LM head").
  int logits_chunk_tokens = 256;
};

struct ParallelConfig {
  MeshMode mode = MeshMode::TwoD;         // "2d" (Optimus, dp x q x q) or "1d" (Megatron, dp x t)
  int q = 0;                              // 2D mesh side; 0 = derived from the rank count and dp
  int t = 0;                              // 1D tensor-parallel width; 0 = derived
  int dp = 1;                             // data-parallel replicas
  int pp = 1;                             // pp groups: share a batch, split n_perturb
  std::string collectives = "mpi";        // "mpi"; "nccl", "cuda-aware-mpi" (CUDA builds)
  SummaChoice summa = SummaChoice::Auto;  // "auto", "standard" or "weight_stationary"
};

struct AndersonConfig {
  int m = 0;             // history window; 0 = plain ZO-SGD
  double beta = 1.0;     // mixing parameter
  double lambda = 1e-8;  // Tikhonov regularisation, relative to ||dF^T dF||
  GramMode gram =
      GramMode::Exact;          // "exact" (regenerated directions) or "diag" (z_i^T z_j ~ n d_ij)
  double max_gamma_norm = 1e3;  // restart the history when ||gamma|| exceeds this
};

struct OptimConfig {
  ZoMethod method = ZoMethod::Mezo;  // "mezo", "sparse_mezo" or "lezo"
  // Distribution of the directions z: "gaussian" (MeZO) or "rademacher" (+-1, SPSA).
  Perturbation perturbation = Perturbation::Gaussian;
  double lr = 1e-4;
  double eps = 1e-3;
  double weight_decay = 0.0;
  int n_perturb = 1;
  LrSchedule schedule = LrSchedule::Constant;  // "constant", "linear" or "cosine"
  int warmup_steps = 0;
  double momentum = 0.0;
  double sparsity = 0.8;       // Sparse-MeZO: fraction of entries left out
  int sparse_refresh = 0;      // Sparse-MeZO: recompute thresholds every N steps (0: once)
  double active_layers = 0.5;  // LeZO: count if >= 1, fraction of layers if < 1
  // ZO2-style offloading (model/offload/): decoder blocks in host memory, a ring of device
  // slots of at most offload_device_bytes (0: the smallest ring, 3 slots).
  bool offload = false;
  std::int64_t offload_device_bytes = 0;
  AndersonConfig anderson;
};

struct DataConfig {
  std::string path;      // HDF5 token dataset; empty = batches generated from the seed
  Task task = Task::Lm;  // "lm" or "classification"
  int batch = 4;         // sequences per data-parallel replica per forward
  int seq_len = 32;
  std::int64_t seed = 7;
  std::string eval_split = "validation";  // "validation" or "test" (a dataset's /test split)
};

struct RunConfig {
  int steps = 10;
  int eval_every = 0;    // 0 = evaluate only at the end
  int eval_batches = 4;  // synthetic data: eval_batches * data.batch held-out sequences
  // Held-out sequences per evaluation; 0 = the whole validation split of a dataset (or
  // eval_batches * data.batch synthetic ones). Split over the dp replicas.
  std::int64_t eval_sequences = 0;
  int log_every = 1;
  std::int64_t seed = 42;  // step seeds are derived from this
  int max_bad_steps = 10;  // stop after this many NaN/Inf steps
  // Stop when a step's loss exceeds divergence_factor x max(the run's first loss, 1): a
  // divergence that stays finite. 0 = off.
  double divergence_factor = 100;
};

struct IoConfig {
  std::string out_dir = "runs/default";
  int checkpoint_every = 0;  // 0 = only at the end
  int keep = 2;
  std::string restart;  // "" (fresh), a checkpoint path, or "latest"
  bool run_log = true;
  // Let a run replace checkpoints in out_dir that another run wrote (refused otherwise).
  bool overwrite = false;
};

struct Config {
  ModelConfig model;
  ParallelConfig parallel;
  OptimConfig optim;
  DataConfig data;
  RunConfig run;
  IoConfig io;

  std::string deck_path;               // where the deck came from ("" for a string)
  std::string run_id;                  // train: this run's id (io/out_dir_lock.hpp)
  std::string deck_text;               // the deck exactly as read
  std::vector<std::string> overrides;  // key=value overrides, in order
  std::string effective_toml;          // the deck after overrides, as TOML
};

// Reads a deck file and applies key=value overrides (dotted keys, TOML values; bare words
// are taken as strings). Throws zoptimus::Error naming the file/override, the key and
// what was expected.
Config load_config(const std::string& deck_path, const std::vector<std::string>& overrides);

// Same, from deck text already in memory; source_name is used in messages.
Config parse_config(const std::string& deck_text, const std::string& source_name,
                    const std::vector<std::string>& overrides);

// Checks relations between keys that do not depend on the rank count.
void validate_config(const Config& config);

// The list of every key a deck may hold, with the expected value; for `--help-deck`.
std::string describe_deck_keys();

}  // namespace zoptimus
