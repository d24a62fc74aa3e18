// Embedding kernels (see embedding.hpp).
#include "kernels/embedding.hpp"

namespace zoptimus {

namespace {
using Range2 = Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>;
}

void embedding_partial(ConstTokenVector tokens, ConstMatrix table, int vocab_offset, int valid_rows,
                       Matrix out) {
  Kokkos::parallel_for(
      "zoptimus::embedding_partial", Range2({0, 0}, {out.extent(0), out.extent(1)}),
      KOKKOS_LAMBDA(const int t, const int j) {
        const int row = tokens(t) - vocab_offset;
        out(t, j) = (row >= 0 && row < valid_rows) ? table(row, j) : 0.0f;
      });
}

void add_positions(Matrix x, ConstMatrix positions, int seq, int offset) {
  Kokkos::parallel_for(
      "zoptimus::add_positions", Range2({0, 0}, {x.extent(0), x.extent(1)}),
      KOKKOS_LAMBDA(const int t, const int j) { x(t, j) += positions(t % seq + offset, j); });
}

}  // namespace zoptimus
