// Classification head over label words (see classification_head.hpp).
#include "model/layers/classification_head.hpp"

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "model/layers/loss_reduction.hpp"

namespace zoptimus {

LossSums ClassificationHead::loss(const Batch& batch, ConstMatrix hidden, ConstMatrix table,
                                  const TensorInfo& info) {
  const int L = static_cast<int>(batch.label_words.size());
  if (L < 2) fail("classification needs at least 2 label words, got {}", L);
  // Label-word rows of the table for this rank's hidden slice: each rank copies the rows it
  // holds, a sum over the ranks that split the vocabulary completes them.
  const int h_loc = static_cast<int>(hidden.extent(1));
  // Only the L label rows cross to the host, never the whole table block.
  std::vector<float> label_rows(static_cast<std::size_t>(L) * h_loc, 0.0f);
  const int v0 = static_cast<int>(info.row_offset()), nv = static_cast<int>(info.valid_rows());
  for (int k = 0; k < L; ++k) {
    const int r = batch.label_words[k] - v0;
    if (r < 0 || r >= nv) continue;
    Kokkos::View<float*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> row(
        label_rows.data() + static_cast<std::size_t>(k) * h_loc, h_loc);
    Kokkos::deep_copy(row, Kokkos::subview(table, r, Kokkos::ALL()));
  }
  ctx_.comm.allreduce_sum(ctx_.two_d() ? Axis::Col : Axis::Row, label_rows.data(),
                          label_rows.size());

  // Partial logits over the local hidden slice for the local sequences; summed along the
  // row in 2D (hidden is split there). Only L logits: the vocabulary is never formed.
  auto H = Kokkos::create_mirror_view_and_copy(HostSpace(), hidden);
  const int first = ctx_.mesh.row() * local_batch_;  // this rank's first sequence
  std::vector<float> logits(static_cast<std::size_t>(local_batch_) * L, 0.0f);
  for (int b = 0; b < local_batch_; ++b) {
    const int row = b * seq_ + batch.last_pos[first + b];
    for (int k = 0; k < L; ++k) {
      double acc = 0;
      for (int j = 0; j < h_loc; ++j)
        acc += static_cast<double>(H(row, j)) * label_rows[k * h_loc + j];
      logits[b * L + k] = static_cast<float>(acc);
    }
  }
  if (ctx_.two_d()) ctx_.comm.allreduce_sum(Axis::Row, logits.data(), logits.size());
  double sum = 0, correct = 0, count = 0;
  for (int b = 0; b < local_batch_; ++b) {
    const float* l = &logits[b * L];
    const int label = batch.labels[first + b];
    if (label < 0) continue;  // a masked sequence (padding of the last eval batch)
    count += 1;
    int best = 0;
    double m = l[0];
    for (int k = 1; k < L; ++k)
      if (l[k] > m) m = l[k], best = k;
    double se = 0;
    for (int k = 0; k < L; ++k) se += std::exp(static_cast<double>(l[k]) - m);
    sum += std::log(se) + m - l[label];
    correct += best == label;
  }
  return reduce_loss_sums(ctx_, LossSums{sum, count, correct});
}

}  // namespace zoptimus
