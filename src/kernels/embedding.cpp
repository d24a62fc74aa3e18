// Embedding kernels (see embedding.hpp).
#include "kernels/embedding.hpp"

#include "kernels/kernel_times.hpp"
#include "kernels/row_loop.hpp"

namespace zoptimus {

void embedding_partial(ConstTokenVector tokens, ConstMatrix table, int vocab_offset, int valid_rows,
                       Matrix out) {
  KernelTimer timer(KernelKind::Embedding);
  for_each_element(
      "zoptimus::embedding_partial", out.extent(0), out.extent(1),
      KOKKOS_LAMBDA(const int t, const int j) {
        const int row = tokens(t) - vocab_offset;
        out(t, j) = (row >= 0 && row < valid_rows) ? table(row, j) : 0.0f;
      });
}

void add_positions(Matrix x, ConstMatrix positions, int seq, int offset) {
  KernelTimer timer(KernelKind::Embedding);
  for_each_element(
      "zoptimus::add_positions", x.extent(0), x.extent(1),
      KOKKOS_LAMBDA(const int t, const int j) { x(t, j) += positions(t % seq + offset, j); });
}

}  // namespace zoptimus
