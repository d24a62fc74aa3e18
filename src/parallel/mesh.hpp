// The process mesh (docs/design.md): world = dp x pp x q x q (2D, Optimus) or dp x pp x t (1D,
// Megatron). The pp ranks of a group hold the same weights and batch and split the n_perturb
// directions of a ZO step between them.
#pragma once

#include <string>

#include "core/config.hpp"
#include "parallel/communicator.hpp"

namespace zoptimus {

// The shape of the mesh, independent of MPI. A 1D mesh of width t is treated as a 1 x t
// grid: one row, t columns, so that code written for rows/columns serves both modes.
struct MeshShape {
  MeshMode mode = MeshMode::TwoD;
  int dp = 1;
  int pp = 1;  // perturbation-parallel copies per replica
  int q = 1;   // 2D side (1 in 1D mode)
  int t = 1;   // 1D width (1 in 2D mode)

  int rows() const { return mode == MeshMode::TwoD ? q : 1; }
  int cols() const { return mode == MeshMode::TwoD ? q : t; }
  int model_size() const { return rows() * cols(); }
  int world_size() const { return dp * pp * model_size(); }
  std::string describe() const;  // e.g. "2d dp=2 x 2x2 (8 ranks)", "2d dp=1 x pp=2 x 2x2 (8 ranks)"
};

// Derives q or t from the rank count when the deck leaves them at 0, and checks that
// ranks = dp*pp*q*q (2D) or dp*pp*t (1D). Throws zoptimus::Error naming the numbers.
MeshShape resolve_mesh_shape(const ParallelConfig& parallel, int world_size);

// Checks that the model and a batch of `batch` sequences per replica (data.batch) partition on
// this mesh (heads, hidden, ffn, batch), before anything is allocated. Throws
// zoptimus::Error naming the numbers.
void validate_partition(const ModelConfig& model, int batch, const MeshShape& shape);

// Coordinates of a world rank on the mesh: world rank = (replica * pp + pp_rank) * model size
// + model_rank, row-major inside the model group. `replica` is the data-parallel index (it
// picks the batch); the pp ranks of a replica share it.
struct MeshCoords {
  int replica;
  int pp_rank;
  int model_rank;
  int row;
  int col;
};
MeshCoords mesh_coords(const MeshShape& shape, int world_rank);

class Mesh {
 public:
  // Duplicates world and splits it into model, row, column, data-parallel and
  // perturbation-parallel communicators.
  Mesh(MPI_Comm world, const MeshShape& shape);

  const MeshShape& shape() const { return shape_; }
  const MeshCoords& coords() const { return coords_; }
  int world_rank() const { return world_rank_; }
  int replica() const { return coords_.replica; }
  int pp_rank() const { return coords_.pp_rank; }
  int row() const { return coords_.row; }
  int col() const { return coords_.col; }
  int rows() const { return shape_.rows(); }
  int cols() const { return shape_.cols(); }

  MPI_Comm world() const { return world_; }
  MPI_Comm model() const { return model_; }   // the q*q (or t) ranks of one replica
  MPI_Comm row_comm() const { return row_; }  // same row, ranked by column
  MPI_Comm col_comm() const { return col_; }  // same column, ranked by row
  MPI_Comm dp_comm() const { return dp_; }    // same position and pp rank in every replica
  MPI_Comm pp_comm() const { return pp_; }    // same position in every pp copy of a replica

 private:
  MeshShape shape_;
  int world_rank_ = 0;
  MeshCoords coords_{};
  Communicator world_, model_, row_, col_, dp_, pp_;
};

}  // namespace zoptimus
