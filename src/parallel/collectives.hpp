// Collectives: every collective of zoptimus, on the mesh's communicators, each counted in a
// CommStats. Nothing outside src/parallel calls MPI collectives directly.
#pragma once

#include <cstddef>
#include <cstdint>

#include <mpi.h>

#include "core/types.hpp"
#include "parallel/comm_backend.hpp"
#include "parallel/comm_stats.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

// A posted nonblocking collective. wait() completes it and adds the time spent waiting to
// the stats (its bytes were recorded when it was posted). Move-only; destroying a pending
// request waits for it, so a buffer is never left in use by MPI.
class Request {
 public:
  Request() = default;
  Request(MPI_Request request, CommStats* stats, Axis axis, CommKind kind)
      : request_(request), stats_(stats), axis_(axis), kind_(kind) {}
  ~Request();
  Request(Request&& other) noexcept;
  Request& operator=(Request&& other) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  void wait();
  bool pending() const { return request_ != MPI_REQUEST_NULL; }

 private:
  MPI_Request request_ = MPI_REQUEST_NULL;
  CommStats* stats_ = nullptr;
  Axis axis_ = Axis::Row;
  CommKind kind_ = CommKind::Bcast;
};

// Counted collectives on one mesh, through one backend (comm_backend.hpp). Pointers are
// memory of the backend's space (CommMemorySpace: host memory for "mpi"); `count`s are
// elements. Roots and peers are ranks inside the axis communicator (row: by column, col: by
// row, model: row * q + col, dp: by replica, world: world rank). Byte accounting: see
// comm_stats.hpp.
//
// Before a buffer is handed to the backend, the execution instance that produced it (the
// DeviceContext's compute instance, or `producer`) is fenced: that instance only, never the
// whole device.
class Collectives {
 public:
  Collectives(const Mesh& mesh, CommStats& stats, CommBackend backend = CommBackend::Mpi);
  Collectives(const Mesh& mesh, CommStats& stats, CommBackend backend, const ExecSpace& producer);

  MPI_Comm comm(Axis axis) const;
  int rank(Axis axis) const;
  int size(Axis axis) const;

  void bcast(Axis axis, float* data, std::size_t count, int root);
  // In place (MPI_IN_PLACE): data holds this rank's input and receives the result.
  void allreduce_sum(Axis axis, float* data, std::size_t count);
  void allreduce_sum(Axis axis, double* data, std::size_t count);
  void allreduce_sum(Axis axis, std::int64_t* data, std::size_t count);
  void allreduce_max(Axis axis, float* data, std::size_t count);
  // recv is written on the root only; the root may pass send == recv (in place).
  void reduce_sum(Axis axis, const float* send, float* recv, std::size_t count, int root);
  // send holds size(axis) * recv_count_per_rank elements; rank i gets the sum of block i.
  void reduce_scatter_sum(Axis axis, const float* send, float* recv,
                          std::size_t recv_count_per_rank);
  // recv receives size(axis) * send_count elements, ordered by rank.
  void allgather(Axis axis, const float* send, float* recv, std::size_t send_count);
  // Point-to-point swap with `peer` (recorded as CommKind::Transpose): sends `send` and
  // receives the peer's block into `recv`. With peer == rank(axis) the backend copies
  // locally (a deep copy in its memory space), 0 bytes.
  void transpose_exchange(Axis axis, const float* send, float* recv, std::size_t count, int peer);

  // Nonblocking bcast; the root's buffer is only read. Complete with Request::wait().
  [[nodiscard]] Request ibcast(Axis axis, float* data, std::size_t count, int root);

  const Mesh& mesh() const { return mesh_; }
  CommStats& stats() { return stats_; }
  CommBackend backend() const { return backend_; }

 private:
  void allreduce(Axis axis, void* data, std::size_t count, std::size_t elem_bytes,
                 MPI_Datatype type, MPI_Op op);
  // Waits for the producing instance's work (kernels may still be writing the buffers).
  void fence_producer() const { producer_.fence(); }

  const Mesh& mesh_;
  CommStats& stats_;
  CommBackend backend_;
  ExecSpace producer_;
};

}  // namespace zoptimus
