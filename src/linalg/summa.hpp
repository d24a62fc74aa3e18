// Distributed GEMMs on the q x q mesh (docs/design.md): SUMMA C = A B in two variants, and
// the Optimus C = A B^T; with the per-rank traffic each one moves, in closed form.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/types.hpp"
#include "core/workspace_registry.hpp"
#include "parallel/collectives.hpp"

namespace zoptimus {

enum class SummaVariant {
  Standard,          // q steps: A panels along rows, B panels down columns (double-buffered)
  WeightStationary,  // B never moves: transpose + allgather A, one GEMM, reduce-scatter C
};
std::string to_string(SummaVariant variant);

// Scratch buffers reused across calls, grown on demand, so that a forward pass does not
// allocate per GEMM. Views returned by get() are valid until the next get() of that slot.
class SummaWorkspace {
 public:
  enum Slot : int { kPanelA0, kPanelA1, kPanelB0, kPanelB1, kGathered, kPartial, kSlotCount };

  Matrix get(Slot slot, std::size_t rows, std::size_t cols);  // contents undefined
  std::size_t bytes() const;                                  // currently allocated
  void release();

 private:
  std::array<Vector, kSlotCount> buffers_;
  WorkspaceLease lease_{WorkspacePurpose::SummaPanels};
};

// Global shapes: A [M, K], B [K, N], C [M, N]; rank (r, c) holds the blocks A_rc [M/q, K/q],
// B_rc [K/q, N/q] and receives C_rc [M/q, N/q] = sum_k A_rk B_kc (c is overwritten). Blocks
// are contiguous, row-major, and have the same shape on every rank. All ranks of the model
// group call it with the same variant. On q = 1 it is one local GEMM and moves no bytes.
void summa_ab(Collectives& coll, SummaVariant variant, ConstMatrix a, ConstMatrix b, Matrix c,
              SummaWorkspace& ws);
// The same with the variant picked by choose_summa_variant from the global shapes.
void summa_ab(Collectives& coll, ConstMatrix a, ConstMatrix b, Matrix c, SummaWorkspace& ws);

// C = A B^T with A [M, K] (A_rc [M/q, K/q]), B [N, K] (B_rc [N/q, K/q]), C_rc [M/q, N/q].
// For j = 0..q-1: B_jc is broadcast down column c, every rank forms A_rc B_jc^T, and the row
// reduces (sums) it onto column j, which keeps it as its C_rj.
void summa_abt(Collectives& coll, ConstMatrix a, ConstMatrix b, Matrix c, SummaWorkspace& ws);

// Receives rows [first_row, first_row + rows.extent(0)) of this rank's C block.
using RowChunkConsumer = std::function<void(int first_row, ConstMatrix rows)>;
// summa_abt delivered in chunks of rows, so that C_rj is never held whole: for each j, B_jc
// is broadcast once, then for each chunk of chunk.extent(0) rows of A_rc the partial product
// is reduced onto column j into the first rows of `chunk` [rows, N/q], and the rank of column
// j (which owns C_rj) passes them to consume. Bytes moved equal summa_abt's; the row reduces
// are q * ceil((M/q) / chunk rows) calls instead of q. On q = 1: one local GEMM per chunk.
void summa_abt_row_chunks(Collectives& coll, ConstMatrix a, ConstMatrix b, Matrix chunk,
                          SummaWorkspace& ws, const RowChunkConsumer& consume);

// Per-rank logical traffic of one call in elements (see comm_stats.hpp for the convention);
// bytes = elements * sizeof(float). M, N, K are global and divisible by q.
//   Standard:          recv (q-1)(MK + KN)/q^2, sent (MK + KN)/q^2
//   WeightStationary:  MK/q^2 (transpose; 0 on the diagonal r == c)
//                      + (q-1) MK/q^2 (allgather) + (q-1) MN/q^2 (reduce-scatter), sent = recv
//   A B^T:             recv (q-1) NK/q^2 + MN/q^2, sent NK/q^2 + (q-1) MN/q^2
std::int64_t summa_ab_recv_elements(SummaVariant variant, std::int64_t M, std::int64_t N,
                                    std::int64_t K, int q, bool on_diagonal = false);
std::int64_t summa_ab_sent_elements(SummaVariant variant, std::int64_t M, std::int64_t N,
                                    std::int64_t K, int q, bool on_diagonal = false);
std::int64_t summa_abt_recv_elements(std::int64_t M, std::int64_t N, std::int64_t K, int q);
std::int64_t summa_abt_sent_elements(std::int64_t M, std::int64_t N, std::int64_t K, int q);

// WeightStationary when an off-diagonal rank receives fewer elements with it than with
// Standard (small M: few tokens against large weights), Standard otherwise and on q = 1.
SummaVariant choose_summa_variant(std::int64_t M, std::int64_t N, std::int64_t K, int q);

}  // namespace zoptimus
