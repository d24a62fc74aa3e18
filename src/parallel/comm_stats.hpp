// CommStats: per-(axis, kind) counters of collective calls, logical bytes and seconds.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace zoptimus {

// The mesh communicator a collective runs on (Mesh::row_comm, col_comm, model, dp_comm,
// world, pp_comm). Pp is last so the other axes keep their indices.
enum class Axis { Row, Col, Model, Dp, World, Pp };
inline constexpr int kAxisCount = 6;

enum class CommKind { Bcast, Allreduce, Reduce, ReduceScatter, Allgather, Transpose, kCount };
inline constexpr int kCommKindCount = static_cast<int>(CommKind::kCount);

// Byte accounting is logical, i.e. independent of the algorithm MPI picks, so that counts
// can be checked against closed forms. With n = payload bytes and p = communicator size:
//   bcast:          root sent n, every other rank recv n
//   reduce(root):   every non-root sent n, the root recv n
//   allreduce:      every rank sent = recv = 2(p-1)n/p   (ring convention)
//   reduce_scatter: n = total input bytes per rank;  sent = recv = (p-1)n/p
//   allgather:      n = total output bytes per rank; sent = recv = (p-1)n/p
//   transpose:      point-to-point swap with a peer; sent = recv = n, 0 with oneself
// Divisions are integer divisions. When p == 1 a call is counted but moves 0 bytes.
struct CommBytes {
  std::int64_t sent = 0;
  std::int64_t recv = 0;
};
// `is_root` matters for bcast and reduce; for transpose it means "the peer is oneself".
CommBytes logical_bytes(CommKind kind, std::int64_t n, int p, bool is_root = false);

struct CommCounter {
  std::int64_t calls = 0;
  std::int64_t bytes_sent = 0;
  std::int64_t bytes_recv = 0;
  double seconds = 0.0;
};

class CommStats {
 public:
  void record(Axis axis, CommKind kind, std::int64_t sent, std::int64_t recv, double seconds);
  // Time spent completing a nonblocking call whose bytes were recorded when it was posted.
  void add_seconds(Axis axis, CommKind kind, double seconds);

  const CommCounter& at(Axis axis, CommKind kind) const;
  std::int64_t total_sent() const;
  std::int64_t total_recv() const;
  std::int64_t total_calls() const;
  double total_seconds() const;
  void reset();

  static std::string axis_name(Axis axis);            // "row", ..., "dp", "world"
  static std::string kind_name(CommKind kind);        // "bcast", "reduce_scatter", ...
  static std::string name(Axis axis, CommKind kind);  // e.g. "row_bcast"

 private:
  CommCounter& slot(Axis axis, CommKind kind);
  std::array<CommCounter, kAxisCount * kCommKindCount> counters_{};
};

}  // namespace zoptimus
