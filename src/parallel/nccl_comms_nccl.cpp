// NcclComms: NCCL communicators from the mesh's MPI communicators, and the NCCL calls of the
// "nccl" backend (NCCL builds only; host compiler: no Kokkos here).
#include "parallel/nccl_comms.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include "core/error.hpp"

namespace zoptimus {
namespace {

void check_nccl(ncclResult_t rc, const char* what, Axis axis) {
  if (rc != ncclSuccess)
    fail("{} on the {} communicator failed: {}", what, CommStats::axis_name(axis),
         ncclGetErrorString(rc));
}

void check_mpi(int rc, const char* what, Axis axis) {
  if (rc != MPI_SUCCESS)
    fail("{} on the {} communicator failed (MPI error {})", what, CommStats::axis_name(axis), rc);
}

ncclDataType_t nccl_type(NcclType type) {
  switch (type) {
    case NcclType::Float:
      return ncclFloat32;
    case NcclType::Double:
      return ncclFloat64;
    case NcclType::Int64:
      return ncclInt64;
  }
  fail("internal error: unknown NcclType {}", static_cast<int>(type));
}

ncclRedOp_t nccl_op(NcclOp op) {
  return op == NcclOp::Max ? ncclMax : ncclSum;
}

cudaStream_t as_stream(void* stream) {
  return static_cast<cudaStream_t>(stream);
}

}  // namespace

NcclComms::NcclComms(const std::array<MPI_Comm, kAxisCount>& comms) {
  try {
    for (int a = 0; a < kAxisCount; ++a) {
      const Axis axis = static_cast<Axis>(a);
      int rank = 0, size = 1;
      check_mpi(MPI_Comm_rank(comms[a], &rank), "MPI_Comm_rank", axis);
      check_mpi(MPI_Comm_size(comms[a], &size), "MPI_Comm_size", axis);
      // Rank 0 of the group makes the id; the group's MPI communicator carries it.
      ncclUniqueId id{};
      if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId", axis);
      check_mpi(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, comms[a]), "MPI_Bcast of the NCCL id",
                axis);
      ncclComm_t comm = nullptr;
      check_nccl(ncclCommInitRank(&comm, size, id, rank), "ncclCommInitRank", axis);
      comms_[a] = comm;
    }
  } catch (...) {
    destroy();
    throw;
  }
}

NcclComms::~NcclComms() {
  destroy();
}

void NcclComms::destroy() noexcept {
  for (void*& c : comms_) {
    if (c) ncclCommDestroy(static_cast<ncclComm_t>(c));
    c = nullptr;
  }
}

void* NcclComms::comm(Axis axis) const {
  void* c = comms_[static_cast<int>(axis)];
  if (!c)
    fail(
        "internal error: the NCCL {} communicator was used after it was destroyed (after the "
        "DeviceContext released it)",
        CommStats::axis_name(axis));
  return c;
}

void NcclComms::bcast(Axis axis, float* data, std::size_t count, int root, void* stream) {
  check_nccl(ncclBroadcast(data, data, count, ncclFloat32, root,
                           static_cast<ncclComm_t>(comm(axis)), as_stream(stream)),
             "ncclBroadcast", axis);
}

void NcclComms::allreduce(Axis axis, void* data, std::size_t count, NcclType type, NcclOp op,
                          void* stream) {
  check_nccl(ncclAllReduce(data, data, count, nccl_type(type), nccl_op(op),
                           static_cast<ncclComm_t>(comm(axis)), as_stream(stream)),
             "ncclAllReduce", axis);
}

void NcclComms::reduce(Axis axis, const float* send, float* recv, std::size_t count, int root,
                       void* stream) {
  check_nccl(ncclReduce(send, recv, count, ncclFloat32, ncclSum, root,
                        static_cast<ncclComm_t>(comm(axis)), as_stream(stream)),
             "ncclReduce", axis);
}

void NcclComms::reduce_scatter(Axis axis, const float* send, float* recv, std::size_t recv_count,
                               void* stream) {
  check_nccl(ncclReduceScatter(send, recv, recv_count, ncclFloat32, ncclSum,
                               static_cast<ncclComm_t>(comm(axis)), as_stream(stream)),
             "ncclReduceScatter", axis);
}

void NcclComms::allgather(Axis axis, const float* send, float* recv, std::size_t send_count,
                          void* stream) {
  check_nccl(ncclAllGather(send, recv, send_count, ncclFloat32, static_cast<ncclComm_t>(comm(axis)),
                           as_stream(stream)),
             "ncclAllGather", axis);
}

void NcclComms::exchange(Axis axis, const float* send, float* recv, std::size_t count, int peer,
                         void* stream) {
  auto c = static_cast<ncclComm_t>(comm(axis));
  check_nccl(ncclGroupStart(), "ncclGroupStart", axis);
  const ncclResult_t sent = ncclSend(send, count, ncclFloat32, peer, c, as_stream(stream));
  const ncclResult_t received = ncclRecv(recv, count, ncclFloat32, peer, c, as_stream(stream));
  const ncclResult_t ended = ncclGroupEnd();  // always close the group
  check_nccl(sent, "ncclSend", axis);
  check_nccl(received, "ncclRecv", axis);
  check_nccl(ended, "ncclGroupEnd", axis);
}

}  // namespace zoptimus
