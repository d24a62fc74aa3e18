// HDF5 checkpoints (docs/design.md): every tensor at its global shape, written collectively
// from the blocks the ranks own, read back onto any mesh; plus optimizer state and metadata.
//
// File layout (format_version 1):
//   /            attrs format="zoptimus-checkpoint", format_version, step, deck, mesh,
//                library_version, git_hash, created (ISO-8601 UTC)
//   /model       attrs family ("opt"; absent in files written before it existed, read as
//                "opt"), then that family's dimensions: vocab, hidden, heads, layers, ffn,
//                max_positions, activation, layernorm_eps
//   /params/<tensor>          float32 [rows, cols] (vectors [cols]); no vocabulary padding
//   /optim       attrs: CheckpointState::text; datasets <key>: reals (float64), integers (int64)
//   /optim/<store>/<tensor>   extra parameter-shaped stores (e.g. momentum), like /params
#pragma once

#include <mpi.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/state_dict.hpp"
#include "model/model_dims.hpp"
#include "model/named_stores.hpp"
#include "model/parameter_store.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

inline constexpr const char* kCheckpointFormat = "zoptimus-checkpoint";
inline constexpr std::int64_t kCheckpointFormatVersion = 1;

// Optimizer-side state, opaque to the checkpoint code: a plain StateDict
// (core/state_dict.hpp) written under /optim, and parameter-shaped stores under
// /optim/<name>/ (same tensor table as params). The old names stay as aliases.
using CheckpointState = StateDict;
using ExtraStores = NamedStores;
using ExtraStoresIn = NamedStoresIn;

// Collective over mesh.world(). Every rank writes the blocks it owns as hyperslabs with
// collective MPI-IO into "<path>.tmp"; once the file is closed on every rank, rank 0 renames
// it to <path>, so a crash never leaves a half-written file under the real name. The
// metadata (state, deck) is taken from rank 0. Refuses (on every rank, writing nothing) when
// any parameter or extra store holds NaN/Inf. Creates the parent directory if needed.
void write_checkpoint(const std::string& path, const ParameterStore& params, const Mesh& mesh,
                      const Config& config, const CheckpointState& state,
                      const ExtraStores& extra = {});

// Collective over mesh.world(). Rank 0 validates the file (format, version, /model against
// config.model, every tensor present with its shape and float32 dtype, the extra stores
// asked for); then each rank reads its own block, computed from the global shape and the
// *current* mesh (any rank count, 1D or 2D), padding zero-filled. Every failure is the same
// zoptimus::Error on every rank, naming the file, the tensor/attribute, expected vs found.
CheckpointState read_checkpoint(const std::string& path, ParameterStore& params, const Mesh& mesh,
                                const Config& config, const ExtraStoresIn& extra = {});

struct CheckpointModel {
  std::string family = kModelFamily;
  std::int64_t vocab = 0, hidden = 0, heads = 0, layers = 0, ffn = 0, max_positions = 0;
  std::string activation;
  double layernorm_eps = 0;
};

using TensorShapes = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

// What a checkpoint holds, without the parameter data.
struct CheckpointInfo {
  std::string path;
  int format_version = 0;
  std::int64_t step = 0;
  std::string mesh, deck, library_version, git_hash, created;
  std::string run_id;  // the run that wrote it ("" for imports and older files)
  CheckpointModel model;
  TensorShapes tensors;                       // /params, global shapes, in file order
  std::map<std::string, TensorShapes> extra;  // /optim/<store>/...
  std::map<std::string, std::string> optim_text;
  std::map<std::string, std::vector<double>> optim_reals;
  std::map<std::string, std::vector<std::int64_t>> optim_integers;
  // Data checksums the writer recorded, by group ("params", "optim/<store>"); files written
  // by importers or older versions have none.
  std::map<std::string, std::uint64_t> checksums;

  std::int64_t parameter_count() const;  // elements in /params
  CheckpointState state() const;
};

// Not collective (no mesh needed; call it on one rank): opens the file serially, checks the
// format, version and that every tensor is float32, and reads the metadata. Throws
// zoptimus::Error naming the file and the problem.
CheckpointInfo read_checkpoint_info(const std::string& path);

// Not collective: everything a restart checks without a deck. read_checkpoint_info, then the
// tensor table against the model the file describes (every tensor present at its shape,
// for /params and each /optim store), then every tensor's data: finite, and equal to the
// recorded checksum. Reads the whole file. Throws zoptimus::Error naming the problem.
CheckpointInfo verify_checkpoint(const std::string& path);

// The checkpoints of a run: <out_dir>/ckpt_<step, 8 digits>.h5, keeping the newest `keep`
// (keep <= 0 keeps all).
class CheckpointSeries {
 public:
  // `comm` says which rank prunes (its rank 0); nothing here communicates.
  CheckpointSeries(std::string out_dir, int keep, MPI_Comm comm = MPI_COMM_WORLD);
  const std::string& out_dir() const { return out_dir_; }
  std::string path_for(std::int64_t step) const;
  // After write_checkpoint(path): on rank 0 of comm, deletes the checkpoints older than the
  // newest `keep` and leftover .tmp files of earlier steps. Other ranks return at once.
  void saved(const std::string& path) const;
  // The newest complete checkpoint ("" if none). Files under the real name are complete by
  // construction (rename after close), and "*.tmp" files are ignored. Any rank may call it.
  std::string latest() const;

 private:
  std::string out_dir_;
  int keep_;
  MPI_Comm comm_;
};

namespace detail {
// Shared by the writer/reader (checkpoint.cpp) and the metadata side (checkpoint_info.cpp).
std::vector<std::int64_t> global_shape(const TensorInfo& t);  // [rows, cols] or [cols]
// State and creation time as bytes, for broadcasting rank 0's view.
std::string pack_state(const CheckpointState& state, const std::string& created);
CheckpointState unpack_state(const std::string& bytes, std::string& created);
// Throws unless the file's model, tensor names and shapes match the deck and the stores.
void check_against_model(const CheckpointInfo& info, const Config& config,
                         const ParameterStore& params, const ExtraStoresIn& extra);
}  // namespace detail

}  // namespace zoptimus
