// CommStats: logical byte accounting and counter bookkeeping.
#include "parallel/comm_stats.hpp"

#include "core/error.hpp"

namespace zoptimus {

CommBytes logical_bytes(CommKind kind, std::int64_t n, int p, bool is_root) {
  CommBytes b;
  if (p <= 1 || n <= 0) return b;
  switch (kind) {
    case CommKind::Bcast:
      (is_root ? b.sent : b.recv) = n;
      break;
    case CommKind::Reduce:
      (is_root ? b.recv : b.sent) = n;
      break;
    case CommKind::Allreduce:
      // Ring allreduce = reduce-scatter + allgather, each (p-1)/p of the payload.
      b.sent = b.recv = 2 * (p - 1) * n / p;
      break;
    case CommKind::ReduceScatter:
    case CommKind::Allgather:
      b.sent = b.recv = (p - 1) * n / p;
      break;
    case CommKind::Transpose:
      if (!is_root) b.sent = b.recv = n;
      break;
    case CommKind::kCount:
      ZOPTIMUS_ASSERT(false);
  }
  return b;
}

CommCounter& CommStats::slot(Axis axis, CommKind kind) {
  const int a = static_cast<int>(axis), k = static_cast<int>(kind);
  ZOPTIMUS_ASSERT(a >= 0 && a < kAxisCount && k >= 0 && k < kCommKindCount);
  return counters_[a * kCommKindCount + k];
}

void CommStats::record(Axis axis, CommKind kind, std::int64_t sent, std::int64_t recv,
                       double seconds) {
  CommCounter& c = slot(axis, kind);
  c.calls += 1;
  c.bytes_sent += sent;
  c.bytes_recv += recv;
  c.seconds += seconds;
}

void CommStats::add_seconds(Axis axis, CommKind kind, double seconds) {
  slot(axis, kind).seconds += seconds;
}

const CommCounter& CommStats::at(Axis axis, CommKind kind) const {
  return const_cast<CommStats*>(this)->slot(axis, kind);
}

std::int64_t CommStats::total_sent() const {
  std::int64_t s = 0;
  for (const auto& c : counters_) s += c.bytes_sent;
  return s;
}

std::int64_t CommStats::total_recv() const {
  std::int64_t s = 0;
  for (const auto& c : counters_) s += c.bytes_recv;
  return s;
}

std::int64_t CommStats::total_calls() const {
  std::int64_t s = 0;
  for (const auto& c : counters_) s += c.calls;
  return s;
}

double CommStats::total_seconds() const {
  double s = 0.0;
  for (const auto& c : counters_) s += c.seconds;
  return s;
}

void CommStats::reset() {
  counters_.fill(CommCounter{});
}

std::string CommStats::axis_name(Axis axis) {
  switch (axis) {
    case Axis::Row:
      return "row";
    case Axis::Col:
      return "col";
    case Axis::Model:
      return "model";
    case Axis::Dp:
      return "dp";
    case Axis::World:
      return "world";
    case Axis::Pp:
      return "pp";
  }
  return "unknown";
}

std::string CommStats::kind_name(CommKind kind) {
  switch (kind) {
    case CommKind::Bcast:
      return "bcast";
    case CommKind::Allreduce:
      return "allreduce";
    case CommKind::Reduce:
      return "reduce";
    case CommKind::ReduceScatter:
      return "reduce_scatter";
    case CommKind::Allgather:
      return "allgather";
    case CommKind::Transpose:
      return "transpose";
    case CommKind::kCount:
      break;
  }
  return "unknown";
}

std::string CommStats::name(Axis axis, CommKind kind) {
  return axis_name(axis) + "_" + kind_name(kind);
}

}  // namespace zoptimus
