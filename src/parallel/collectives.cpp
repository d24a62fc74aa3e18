// Collectives: thin, counted wrappers over the collectives of the chosen backend on the mesh
// communicators: MPI ("mpi": host memory; "cuda-aware-mpi": host or device memory) or, for
// device memory under "nccl", NCCL on the producing instance's stream.
#include "parallel/collectives.hpp"

#include <Kokkos_Core.hpp>

#include <climits>
#include <utility>

#include "core/build_info.hpp"
#include "core/device_context.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "parallel/device_memory.hpp"
#include "parallel/nccl_comms.hpp"
#ifdef ZOPTIMUS_HAVE_NCCL
#include "parallel/nccl_registry.hpp"
#endif

namespace zoptimus {
namespace {

// A tag of its own, so the swap cannot match other point-to-point traffic on the axis.
constexpr int kTransposeTag = 7301;

int checked_count(std::size_t count, const char* what) {
  if (count > static_cast<std::size_t>(INT_MAX))
    fail("{}: {} elements exceed the MPI count limit ({}); split the message", what, count,
         INT_MAX);
  return static_cast<int>(count);
}

void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    fail("{} failed: {}", what, std::string(text, len));
  }
}

std::int64_t bytes_of(std::size_t count, std::size_t elem_bytes) {
  return static_cast<std::int64_t>(count * elem_bytes);
}

// Unmanaged views of the backend's memory, for local copies in that space.
using CommView = Kokkos::View<float*, CommMemorySpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
using ConstCommView =
    Kokkos::View<const float*, CommMemorySpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

ExecSpace producing_instance() {
  return DeviceContext::exists() ? DeviceContext::current().compute() : ExecSpace();
}

void require_implemented(CommBackend backend) {
  const bool built = backend == CommBackend::Mpi ||
                     (backend == CommBackend::CudaAwareMpi && build_info::kHaveCuda) ||
                     (backend == CommBackend::Nccl && build_info::kHaveNccl);
  if (!built)
    fail("internal error: Collectives has no \"{}\" backend (select_comm_backend refuses it)",
         to_string(backend));
}

NcclType nccl_type_of(MPI_Datatype type) {
  if (type == MPI_FLOAT) return NcclType::Float;
  if (type == MPI_DOUBLE) return NcclType::Double;
  if (type == MPI_INT64_T) return NcclType::Int64;
  fail("internal error: no NCCL type for this MPI datatype");
}

}  // namespace

Request Request::device(void* event, CommStats* stats, Axis axis, CommKind kind) {
  Request r;
  r.event_ = event;
  r.stats_ = stats;
  r.axis_ = axis;
  r.kind_ = kind;
  return r;
}

Request::~Request() {
  // A destructor must not throw: complete the request without the error check.
  if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  if (event_) detail::release_event(std::exchange(event_, nullptr));
}

Request::Request(Request&& other) noexcept
    : request_(std::exchange(other.request_, MPI_REQUEST_NULL)),
      event_(std::exchange(other.event_, nullptr)),
      stats_(other.stats_),
      axis_(other.axis_),
      kind_(other.kind_) {}

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
    if (event_) detail::release_event(event_);
    request_ = std::exchange(other.request_, MPI_REQUEST_NULL);
    event_ = std::exchange(other.event_, nullptr);
    stats_ = other.stats_;
    axis_ = other.axis_;
    kind_ = other.kind_;
  }
  return *this;
}

void Request::wait() {
  if (!pending()) return;
  const double t0 = MPI_Wtime();
  if (event_)
    detail::wait_event(std::exchange(event_, nullptr));
  else
    check_mpi(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait");
  if (stats_) stats_->add_seconds(axis_, kind_, MPI_Wtime() - t0);
}

Collectives::Collectives(const Mesh& mesh, CommStats& stats, CommBackend backend)
    : Collectives(mesh, stats, backend, producing_instance()) {}

Collectives::Collectives(const Mesh& mesh, CommStats& stats, CommBackend backend,
                         const ExecSpace& producer)
    : mesh_(mesh), stats_(stats), backend_(backend), producer_(producer) {
  require_implemented(backend);
#ifdef ZOPTIMUS_HAVE_NCCL
  if (backend == CommBackend::Nccl) {
    std::array<MPI_Comm, kAxisCount> comms{};
    for (int a = 0; a < kAxisCount; ++a) comms[a] = comm(static_cast<Axis>(a));
    nccl_ = nccl_registry().create(comms);
  }
#endif
}

Collectives::~Collectives() = default;

bool Collectives::on_nccl(const void* a, const void* b) const {
  if (backend_ != CommBackend::Nccl) return false;
  const bool dev_a = detail::is_device_pointer(a);
  if (b && b != a && detail::is_device_pointer(b) != dev_a)
    fail("internal error: a collective was handed one host and one device buffer");
  return dev_a;
}

void Collectives::require_backend_memory(Axis axis, const void* p, const char* what) const {
  if (backend_ == CommBackend::Mpi && build_info::kHaveCuda && size(axis) > 1 &&
      detail::is_device_pointer(p))
    fail(
        "{}: parallel.collectives = \"mpi\" takes host memory, but this buffer is device "
        "memory; use \"nccl\" or \"cuda-aware-mpi\"",
        what);
}

void* Collectives::stream() const {
#ifdef KOKKOS_ENABLE_CUDA
  return producer_.cuda_stream();
#else
  return nullptr;
#endif
}

void Collectives::local_copy(float* dst, const float* src, std::size_t count) const {
  if (dst == src || count == 0) return;
  if (build_info::kHaveCuda && detail::is_device_pointer(src)) {
    detail::device_copy(dst, src, count * sizeof(float), stream());
  } else {
    // The backend's local copy: a deep copy in host memory, on the producing instance.
    Kokkos::deep_copy(producer_, CommView(dst, count), ConstCommView(src, count));
    fence_producer();
  }
}

MPI_Comm Collectives::comm(Axis axis) const {
  switch (axis) {
    case Axis::Row:
      return mesh_.row_comm();
    case Axis::Col:
      return mesh_.col_comm();
    case Axis::Model:
      return mesh_.model();
    case Axis::Dp:
      return mesh_.dp_comm();
    case Axis::World:
      return mesh_.world();
    case Axis::Pp:
      return mesh_.pp_comm();
  }
  fail("internal error: unknown mesh axis {}", static_cast<int>(axis));
}

int Collectives::rank(Axis axis) const {
  int r = 0;
  MPI_Comm_rank(comm(axis), &r);
  return r;
}

int Collectives::size(Axis axis) const {
  int p = 1;
  MPI_Comm_size(comm(axis), &p);
  return p;
}

void Collectives::bcast(Axis axis, float* data, std::size_t count, int root) {
  const int n = checked_count(count, "bcast");
  require_backend_memory(axis, data, "bcast");
  PhaseRegion region(phase::kComm);
  fence_producer();
  const double t0 = MPI_Wtime();
  if (on_nccl(data)) {
    nccl_->bcast(axis, data, count, root, stream());
    detail::synchronize_stream(stream());
  } else {
    check_mpi(MPI_Bcast(data, n, MPI_FLOAT, root, comm(axis)), "MPI_Bcast");
  }
  const double dt = MPI_Wtime() - t0;
  const CommBytes b = logical_bytes(CommKind::Bcast, bytes_of(count, sizeof(float)), size(axis),
                                    rank(axis) == root);
  stats_.record(axis, CommKind::Bcast, b.sent, b.recv, dt);
}

Request Collectives::ibcast(Axis axis, float* data, std::size_t count, int root) {
  const int n = checked_count(count, "ibcast");
  require_backend_memory(axis, data, "ibcast");
  MPI_Request request = MPI_REQUEST_NULL;
  void* event = nullptr;
  PhaseRegion region(phase::kComm);
  fence_producer();
  const double t0 = MPI_Wtime();
  if (on_nccl(data)) {
    // Enqueued on the producing stream; the request's event marks its completion.
    nccl_->bcast(axis, data, count, root, stream());
    event = detail::record_event(stream());
  } else {
    check_mpi(MPI_Ibcast(data, n, MPI_FLOAT, root, comm(axis), &request), "MPI_Ibcast");
  }
  const CommBytes b = logical_bytes(CommKind::Bcast, bytes_of(count, sizeof(float)), size(axis),
                                    rank(axis) == root);
  stats_.record(axis, CommKind::Bcast, b.sent, b.recv, MPI_Wtime() - t0);
  if (event) return Request::device(event, &stats_, axis, CommKind::Bcast);
  return Request(request, &stats_, axis, CommKind::Bcast);
}

void Collectives::allreduce(Axis axis, void* data, std::size_t count, std::size_t elem_bytes,
                            MPI_Datatype type, MPI_Op op) {
  const int n = checked_count(count, "allreduce");
  require_backend_memory(axis, data, "allreduce");
  PhaseRegion region(phase::kComm);
  fence_producer();
  const double t0 = MPI_Wtime();
  if (on_nccl(data)) {
    nccl_->allreduce(axis, data, count, nccl_type_of(type),
                     op == MPI_MAX ? NcclOp::Max : NcclOp::Sum, stream());
    detail::synchronize_stream(stream());
  } else {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, n, type, op, comm(axis)), "MPI_Allreduce");
  }
  const double dt = MPI_Wtime() - t0;
  const CommBytes b = logical_bytes(CommKind::Allreduce, bytes_of(count, elem_bytes), size(axis));
  stats_.record(axis, CommKind::Allreduce, b.sent, b.recv, dt);
}

void Collectives::allreduce_sum(Axis axis, float* data, std::size_t count) {
  allreduce(axis, data, count, sizeof(float), MPI_FLOAT, MPI_SUM);
}

void Collectives::allreduce_sum(Axis axis, double* data, std::size_t count) {
  allreduce(axis, data, count, sizeof(double), MPI_DOUBLE, MPI_SUM);
}

void Collectives::allreduce_sum(Axis axis, std::int64_t* data, std::size_t count) {
  allreduce(axis, data, count, sizeof(std::int64_t), MPI_INT64_T, MPI_SUM);
}

void Collectives::allreduce_max(Axis axis, float* data, std::size_t count) {
  allreduce(axis, data, count, sizeof(float), MPI_FLOAT, MPI_MAX);
}

void Collectives::reduce_sum(Axis axis, const float* send, float* recv, std::size_t count,
                             int root) {
  const int n = checked_count(count, "reduce");
  require_backend_memory(axis, send, "reduce");
  const bool is_root = rank(axis) == root;
  PhaseRegion region(phase::kComm);
  fence_producer();
  const double t0 = MPI_Wtime();
  if (on_nccl(send, is_root ? recv : nullptr)) {
    nccl_->reduce(axis, send, recv, count, root, stream());
    detail::synchronize_stream(stream());
  } else if (size(axis) == 1) {
    local_copy(recv, send, count);  // one rank: the sum is its own input
  } else {
    const void* src = (is_root && send == recv) ? MPI_IN_PLACE : static_cast<const void*>(send);
    check_mpi(MPI_Reduce(src, recv, n, MPI_FLOAT, MPI_SUM, root, comm(axis)), "MPI_Reduce");
  }
  const double dt = MPI_Wtime() - t0;
  const CommBytes b =
      logical_bytes(CommKind::Reduce, bytes_of(count, sizeof(float)), size(axis), is_root);
  stats_.record(axis, CommKind::Reduce, b.sent, b.recv, dt);
}

void Collectives::reduce_scatter_sum(Axis axis, const float* send, float* recv,
                                     std::size_t recv_count_per_rank) {
  const int n = checked_count(recv_count_per_rank, "reduce_scatter");
  require_backend_memory(axis, send, "reduce_scatter");
  const int p = size(axis);
  PhaseRegion region(phase::kComm);
  fence_producer();
  const double t0 = MPI_Wtime();
  if (on_nccl(send, recv)) {
    nccl_->reduce_scatter(axis, send, recv, recv_count_per_rank, stream());
    detail::synchronize_stream(stream());
  } else if (p == 1) {
    local_copy(recv, send, recv_count_per_rank);
  } else {
    check_mpi(MPI_Reduce_scatter_block(send, recv, n, MPI_FLOAT, MPI_SUM, comm(axis)),
              "MPI_Reduce_scatter_block");
  }
  const double dt = MPI_Wtime() - t0;
  const CommBytes b =
      logical_bytes(CommKind::ReduceScatter, bytes_of(recv_count_per_rank * p, sizeof(float)), p);
  stats_.record(axis, CommKind::ReduceScatter, b.sent, b.recv, dt);
}

void Collectives::allgather(Axis axis, const float* send, float* recv, std::size_t send_count) {
  const int n = checked_count(send_count, "allgather");
  require_backend_memory(axis, send, "allgather");
  const int p = size(axis);
  PhaseRegion region(phase::kComm);
  fence_producer();
  const double t0 = MPI_Wtime();
  if (on_nccl(send, recv)) {
    nccl_->allgather(axis, send, recv, send_count, stream());
    detail::synchronize_stream(stream());
  } else if (p == 1) {
    local_copy(recv, send, send_count);
  } else {
    check_mpi(MPI_Allgather(send, n, MPI_FLOAT, recv, n, MPI_FLOAT, comm(axis)), "MPI_Allgather");
  }
  const double dt = MPI_Wtime() - t0;
  const CommBytes b =
      logical_bytes(CommKind::Allgather, bytes_of(send_count * p, sizeof(float)), p);
  stats_.record(axis, CommKind::Allgather, b.sent, b.recv, dt);
}

void Collectives::transpose_exchange(Axis axis, const float* send, float* recv, std::size_t count,
                                     int peer) {
  const int n = checked_count(count, "transpose_exchange");
  require_backend_memory(axis, send, "transpose_exchange");
  const bool self = peer == rank(axis);
  PhaseRegion region(phase::kComm);
  fence_producer();
  const double t0 = MPI_Wtime();
  if (self) {
    local_copy(recv, send, count);  // the backend's local copy, in the buffers' memory
  } else if (on_nccl(send, recv)) {
    nccl_->exchange(axis, send, recv, count, peer, stream());
    detail::synchronize_stream(stream());
  } else {
    check_mpi(MPI_Sendrecv(send, n, MPI_FLOAT, peer, kTransposeTag, recv, n, MPI_FLOAT, peer,
                           kTransposeTag, comm(axis), MPI_STATUS_IGNORE),
              "MPI_Sendrecv");
  }
  const double dt = MPI_Wtime() - t0;
  const CommBytes b =
      logical_bytes(CommKind::Transpose, bytes_of(count, sizeof(float)), size(axis), self);
  stats_.record(axis, CommKind::Transpose, b.sent, b.recv, dt);
}

}  // namespace zoptimus
