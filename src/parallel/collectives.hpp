// Collectives: every collective of zoptimus, on the mesh's communicators, each counted in a
// CommStats. Nothing outside src/parallel calls MPI collectives directly.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <mpi.h>

#include "core/types.hpp"
#include "parallel/comm_backend.hpp"
#include "parallel/comm_stats.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

class NcclComms;

// A posted nonblocking collective: an MPI request, or (NCCL on device memory) a CUDA event
// recorded after the operation on its stream. wait() completes it and adds the time spent
// waiting to the stats (its bytes were recorded when it was posted). Move-only; destroying a
// pending request waits for it, so a buffer is never left in use by MPI or NCCL.
class Request {
 public:
  Request() = default;
  Request(MPI_Request request, CommStats* stats, Axis axis, CommKind kind)
      : request_(request), stats_(stats), axis_(axis), kind_(kind) {}
  // `event` is a cudaEvent_t the request owns (destroyed when it completes).
  static Request device(void* event, CommStats* stats, Axis axis, CommKind kind);
  ~Request();
  Request(Request&& other) noexcept;
  Request& operator=(Request&& other) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  void wait();
  bool pending() const { return request_ != MPI_REQUEST_NULL || event_ != nullptr; }

 private:
  MPI_Request request_ = MPI_REQUEST_NULL;
  void* event_ = nullptr;  // cudaEvent_t of a device request
  CommStats* stats_ = nullptr;
  Axis axis_ = Axis::Row;
  CommKind kind_ = CommKind::Bcast;
};

// Counted collectives on one mesh, through one backend (comm_backend.hpp). Pointers are
// memory of the backend's space: host memory for "mpi"; host or device memory for "nccl" (a
// call on device memory goes through NCCL on the producing instance's stream, one on host
// memory, e.g. loss scalars and counts, through MPI) and for "cuda-aware-mpi" (MPI takes
// either). `count`s are elements. Every backend records the same logical bytes. Roots and peers are
// ranks inside the axis communicator (row: by column, col: by row, model: row * q + col, dp: by
// replica, world: world rank). Byte accounting: see comm_stats.hpp.
//
// Before a buffer is handed to the backend, the execution instance that produced it (the
// DeviceContext's compute instance, or `producer`) is fenced: that instance only, never the
// whole device.
class Collectives {
 public:
  Collectives(const Mesh& mesh, CommStats& stats, CommBackend backend = CommBackend::Mpi);
  Collectives(const Mesh& mesh, CommStats& stats, CommBackend backend, const ExecSpace& producer);
  ~Collectives();

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
  // True when the call goes through NCCL: the "nccl" backend and device memory. Mixed host
  // and device buffers in one call are refused.
  bool on_nccl(const void* a, const void* b = nullptr) const;
  // Refuses device memory under the host-only "mpi" backend on an axis of more than one rank
  // (MPI would read it as host memory) with one message naming the backends that take it.
  // One-rank axes move nothing (reduce, reduce-scatter and allgather become local copies in
  // the buffers' memory), so they work on device memory under every backend.
  void require_backend_memory(Axis axis, const void* p, const char* what) const;
  void* stream() const;  // the producing instance's cudaStream_t (nullptr on host builds)
  void local_copy(float* dst, const float* src, std::size_t count) const;

  const Mesh& mesh_;
  CommStats& stats_;
  CommBackend backend_;
  ExecSpace producer_;
  std::shared_ptr<NcclComms> nccl_;  // the "nccl" backend's communicators, one per axis
};

}  // namespace zoptimus
