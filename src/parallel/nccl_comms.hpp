// NcclComms: one NCCL communicator per mesh axis (row, col, model, dp, world, pp), for the
// "nccl" communication backend. Each is created from the axis's MPI communicator: its rank 0
// calls ncclGetUniqueId, MPI broadcasts the id on that communicator, and every member calls
// ncclCommInitRank with its MPI rank, so NCCL ranks equal MPI ranks on every axis.
//
// Collectives owns one per mesh; the DeviceContext's NcclRegistry destroys any still alive
// before Kokkos finalises (nccl_registry.hpp). Defined in nccl_comms_nccl.cpp (NCCL builds
// only); no NCCL or CUDA type appears here. Streams are cudaStream_t passed as void*. Every
// call is checked: a failure throws zoptimus::Error naming the call, the axis and
// ncclGetErrorString's text.
#pragma once

#include <array>
#include <cstddef>

#include <mpi.h>

#include "core/error.hpp"
#include "parallel/comm_stats.hpp"

namespace zoptimus {

enum class NcclType { Float, Double, Int64 };
enum class NcclOp { Sum, Max };

class NcclComms {
 public:
  // Collective over the union of the communicators (every rank of the mesh calls it, with
  // the communicators in Axis order). Uses the current CUDA device.
  explicit NcclComms(const std::array<MPI_Comm, kAxisCount>& comms);
  ~NcclComms();
  NcclComms(const NcclComms&) = delete;
  NcclComms& operator=(const NcclComms&) = delete;

  // Destroys the communicators (idempotent). Later calls fail with an internal error.
  void destroy() noexcept;

  // Each enqueues on `stream` and returns; the caller synchronises.
  void bcast(Axis axis, float* data, std::size_t count, int root, void* stream);
  void allreduce(Axis axis, void* data, std::size_t count, NcclType type, NcclOp op, void* stream);
  void reduce(Axis axis, const float* send, float* recv, std::size_t count, int root, void* stream);
  void reduce_scatter(Axis axis, const float* send, float* recv, std::size_t recv_count,
                      void* stream);
  void allgather(Axis axis, const float* send, float* recv, std::size_t send_count, void* stream);
  // Swap with `peer` (a different rank of the axis): send and receive in one NCCL group.
  void exchange(Axis axis, const float* send, float* recv, std::size_t count, int peer,
                void* stream);

 private:
  void* comm(Axis axis) const;
  std::array<void*, kAxisCount> comms_{};  // ncclComm_t
};

#ifndef ZOPTIMUS_HAVE_NCCL
// Builds without NCCL refuse parallel.collectives = "nccl" at start-up (select_comm_backend),
// so none of these is reached; they exist so that Collectives links in every build.
[[noreturn]] inline void nccl_absent() {
  fail("internal error: NCCL called in a build without NCCL");
}
inline NcclComms::NcclComms(const std::array<MPI_Comm, kAxisCount>&) {
  nccl_absent();
}
inline NcclComms::~NcclComms() = default;
inline void NcclComms::destroy() noexcept {}
inline void NcclComms::bcast(Axis, float*, std::size_t, int, void*) {
  nccl_absent();
}
inline void NcclComms::allreduce(Axis, void*, std::size_t, NcclType, NcclOp, void*) {
  nccl_absent();
}
inline void NcclComms::reduce(Axis, const float*, float*, std::size_t, int, void*) {
  nccl_absent();
}
inline void NcclComms::reduce_scatter(Axis, const float*, float*, std::size_t, void*) {
  nccl_absent();
}
inline void NcclComms::allgather(Axis, const float*, float*, std::size_t, void*) {
  nccl_absent();
}
inline void NcclComms::exchange(Axis, const float*, float*, std::size_t, int, void*) {
  nccl_absent();
}
#endif

}  // namespace zoptimus
