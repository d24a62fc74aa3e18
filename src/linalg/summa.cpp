// SUMMA variants and the Optimus A B^T on the 2D mesh, built on counted collectives.
#include "linalg/summa.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "linalg/gemm.hpp"

namespace zoptimus {
namespace {

// The side q of a square mesh; rejects 1D meshes.
int mesh_side(const Mesh& mesh, const char* what) {
  if (mesh.rows() != mesh.cols())
    fail("{} needs a square 2D mesh, got {} rows x {} columns ({})", what, mesh.rows(), mesh.cols(),
         mesh.shape().describe());
  return mesh.rows();
}

template <class View>
void require_contiguous(const View& v, const char* what, const char* name) {
  if (!v.span_is_contiguous())
    fail("{}: block {} [{}, {}] must be contiguous (it is sent as one message)", what, name,
         v.extent(0), v.extent(1));
}

// Read-only view of a received (or owned) panel.
ConstMatrix panel(const float* data, std::size_t rows, std::size_t cols) {
  return ConstMatrix(data, rows, cols);
}

// MPI reads but never writes a broadcast root's buffer, so the owner's const block can be
// posted directly instead of being copied into a panel.
float* root_buffer(const ConstMatrix& m) {
  return const_cast<float*>(m.data());
}

void summa_ab_standard(Collectives& coll, int q, ConstMatrix a, ConstMatrix b, Matrix c,
                       SummaWorkspace& ws) {
  const int r = coll.mesh().row(), col = coll.mesh().col();
  const std::size_t mb = a.extent(0), kb = a.extent(1), nb = b.extent(1);
  const Matrix pa[2] = {ws.get(SummaWorkspace::kPanelA0, mb, kb),
                        ws.get(SummaWorkspace::kPanelA1, mb, kb)};
  const Matrix pb[2] = {ws.get(SummaWorkspace::kPanelB0, kb, nb),
                        ws.get(SummaWorkspace::kPanelB1, kb, nb)};
  float* a_buf[2] = {nullptr, nullptr};
  float* b_buf[2] = {nullptr, nullptr};
  Request ra[2], rb[2];
  // Step k: A_rk comes from column k of the row, B_kc from row k of the column.
  auto post = [&](int k) {
    const int s = k % 2;
    a_buf[s] = col == k ? root_buffer(a) : pa[s].data();
    b_buf[s] = r == k ? root_buffer(b) : pb[s].data();
    ra[s] = coll.ibcast(Axis::Row, a_buf[s], mb * kb, k);
    rb[s] = coll.ibcast(Axis::Col, b_buf[s], kb * nb, k);
  };
  post(0);
  for (int k = 0; k < q; ++k) {
    const int s = k % 2;
    ra[s].wait();
    rb[s].wait();
    // Double buffering: step k+1 travels while step k multiplies.
    if (k + 1 < q) post(k + 1);
    gemm(Trans::No, Trans::No, 1.0f, panel(a_buf[s], mb, kb), panel(b_buf[s], kb, nb),
         k == 0 ? 0.0f : 1.0f, c);
  }
}

void summa_ab_weight_stationary(Collectives& coll, int q, ConstMatrix a, ConstMatrix b, Matrix c,
                                SummaWorkspace& ws) {
  const int r = coll.mesh().row(), col = coll.mesh().col();
  const std::size_t mb = a.extent(0), kb = a.extent(1), nb = b.extent(1);
  // (i) A_rc goes to rank (c, r), so this rank (r, c) then holds A_cr. The diagonal keeps
  // its block and makes no call.
  const float* mine = a.data();
  if (r != col) {
    Matrix at = ws.get(SummaWorkspace::kPanelA0, mb, kb);
    coll.transpose_exchange(Axis::Model, a.data(), at.data(), mb * kb, col * q + r);
    mine = at.data();
  }
  // (ii) Row r gathers [A_0r; A_1r; ...; A_(q-1)r] = the column panel A_{:,r} [M, K/q].
  Matrix gathered = ws.get(SummaWorkspace::kGathered, q * mb, kb);
  coll.allgather(Axis::Row, mine, gathered.data(), mb * kb);
  // (iii) T = A_{:,r} B_rc [M, N/q].
  Matrix t = ws.get(SummaWorkspace::kPartial, q * mb, nb);
  gemm(Trans::No, Trans::No, 1.0f, gathered, b, 0.0f, t);
  // (iv) Sum over r down the column; row block i of the sum is C_ic.
  coll.reduce_scatter_sum(Axis::Col, t.data(), c.data(), mb * nb);
}

}  // namespace

std::string to_string(SummaVariant variant) {
  return variant == SummaVariant::Standard ? "standard" : "weight_stationary";
}

Matrix SummaWorkspace::get(Slot slot, std::size_t rows, std::size_t cols) {
  ZOPTIMUS_ASSERT(slot >= 0 && slot < kSlotCount);
  Vector& buf = buffers_[slot];
  const std::size_t n = rows * cols;
  if (buf.extent(0) < n) {
    buf = Vector(Kokkos::view_alloc(Kokkos::WithoutInitializing, "zoptimus::summa_workspace"), n);
    lease_.set(static_cast<std::int64_t>(bytes()));
  }
  return Matrix(buf.data(), rows, cols);
}

std::size_t SummaWorkspace::bytes() const {
  std::size_t total = 0;
  for (const auto& buf : buffers_) total += buf.extent(0) * sizeof(float);
  return total;
}

void SummaWorkspace::release() {
  for (auto& buf : buffers_) buf = Vector();
  lease_.set(0);
}

void summa_ab(Collectives& coll, SummaVariant variant, ConstMatrix a, ConstMatrix b, Matrix c,
              SummaWorkspace& ws) {
  const int q = mesh_side(coll.mesh(), "summa_ab");
  if (a.extent(1) != b.extent(0) || c.extent(0) != a.extent(0) || c.extent(1) != b.extent(1))
    fail(
        "summa_ab: local blocks do not fit: A_rc [{}, {}], B_rc [{}, {}], C_rc [{}, {}]; "
        "expected [M/q, K/q], [K/q, N/q], [M/q, N/q]",
        a.extent(0), a.extent(1), b.extent(0), b.extent(1), c.extent(0), c.extent(1));
  require_contiguous(a, "summa_ab", "A");
  require_contiguous(b, "summa_ab", "B");
  require_contiguous(c, "summa_ab", "C");
  if (q == 1) {
    gemm(Trans::No, Trans::No, 1.0f, a, b, 0.0f, c);
    return;
  }
  if (variant == SummaVariant::Standard)
    summa_ab_standard(coll, q, a, b, c, ws);
  else
    summa_ab_weight_stationary(coll, q, a, b, c, ws);
}

void summa_ab(Collectives& coll, ConstMatrix a, ConstMatrix b, Matrix c, SummaWorkspace& ws) {
  const int q = mesh_side(coll.mesh(), "summa_ab");
  const std::int64_t M = static_cast<std::int64_t>(a.extent(0)) * q;
  const std::int64_t K = static_cast<std::int64_t>(a.extent(1)) * q;
  const std::int64_t N = static_cast<std::int64_t>(b.extent(1)) * q;
  summa_ab(coll, choose_summa_variant(M, N, K, q), a, b, c, ws);
}

void summa_abt(Collectives& coll, ConstMatrix a, ConstMatrix b, Matrix c, SummaWorkspace& ws) {
  if (c.extent(0) != a.extent(0))
    fail("summa_abt: C_rc has {} rows, A_rc {}; expected [M/q, N/q] and [M/q, K/q]", c.extent(0),
         a.extent(0));
  // One chunk of all rows: the chunked form writes C_rj straight into c on column j.
  summa_abt_row_chunks(coll, a, b, c, ws, [](int, ConstMatrix) {});
}

void summa_abt_row_chunks(Collectives& coll, ConstMatrix a, ConstMatrix b, Matrix chunk,
                          SummaWorkspace& ws, const RowChunkConsumer& consume) {
  const int q = mesh_side(coll.mesh(), "summa_abt_row_chunks");
  const std::size_t mb = a.extent(0), kb = a.extent(1), nb = b.extent(0);
  const std::size_t cap = chunk.extent(0);
  if (b.extent(1) != kb || chunk.extent(1) != nb || (cap == 0 && mb > 0))
    fail(
        "summa_abt_row_chunks: local blocks do not fit: A_rc [{}, {}], B_rc [{}, {}], chunk "
        "[{}, {}]; expected [M/q, K/q], [N/q, K/q], [rows > 0, N/q]",
        mb, kb, b.extent(0), b.extent(1), chunk.extent(0), chunk.extent(1));
  require_contiguous(a, "summa_abt_row_chunks", "A");
  require_contiguous(b, "summa_abt_row_chunks", "B");
  require_contiguous(chunk, "summa_abt_row_chunks", "chunk");
  // Rows [r0, r0 + n) of A and the first n rows of a [cap, nb] buffer, both contiguous.
  auto a_rows = [&](std::size_t r0, std::size_t n) { return panel(a.data() + r0 * kb, n, kb); };
  auto first_rows = [&](float* buf, std::size_t n) { return Matrix(buf, n, nb); };
  if (q == 1) {
    for (std::size_t r0 = 0; r0 < mb; r0 += cap) {
      const std::size_t n = std::min(cap, mb - r0);
      const Matrix dst = first_rows(chunk.data(), n);
      gemm(Trans::No, Trans::Yes, 1.0f, a_rows(r0, n), b, 0.0f, dst);
      consume(static_cast<int>(r0), dst);
    }
    return;
  }
  const int r = coll.mesh().row(), col = coll.mesh().col();
  const Matrix pb[2] = {ws.get(SummaWorkspace::kPanelB0, nb, kb),
                        ws.get(SummaWorkspace::kPanelB1, nb, kb)};
  const Matrix partial = ws.get(SummaWorkspace::kPartial, cap, nb);
  float* b_buf[2] = {nullptr, nullptr};
  Request rb[2];
  auto post = [&](int j) {
    const int s = j % 2;
    b_buf[s] = r == j ? root_buffer(b) : pb[s].data();
    rb[s] = coll.ibcast(Axis::Col, b_buf[s], nb * kb, j);
  };
  post(0);
  for (int j = 0; j < q; ++j) {
    const int s = j % 2;
    rb[s].wait();
    if (j + 1 < q) post(j + 1);
    const ConstMatrix bj = panel(b_buf[s], nb, kb);
    for (std::size_t r0 = 0; r0 < mb; r0 += cap) {
      const std::size_t n = std::min(cap, mb - r0);
      // The root column computes its share straight into the chunk and reduces in place.
      const Matrix dst = first_rows(col == j ? chunk.data() : partial.data(), n);
      gemm(Trans::No, Trans::Yes, 1.0f, a_rows(r0, n), bj, 0.0f, dst);
      coll.reduce_sum(Axis::Row, dst.data(), chunk.data(), n * nb, j);
      if (col == j) consume(static_cast<int>(r0), dst);
    }
  }
}

std::int64_t summa_ab_recv_elements(SummaVariant variant, std::int64_t M, std::int64_t N,
                                    std::int64_t K, int q, bool on_diagonal) {
  if (q <= 1) return 0;
  const std::int64_t q2 = std::int64_t(q) * q;
  if (variant == SummaVariant::Standard) return (q - 1) * (M * K + K * N) / q2;
  const std::int64_t transpose = on_diagonal ? 0 : M * K / q2;
  return transpose + (q - 1) * M * K / q2 + (q - 1) * M * N / q2;
}

std::int64_t summa_ab_sent_elements(SummaVariant variant, std::int64_t M, std::int64_t N,
                                    std::int64_t K, int q, bool on_diagonal) {
  if (q <= 1) return 0;
  const std::int64_t q2 = std::int64_t(q) * q;
  // Standard: a rank is the root of one A broadcast and one B broadcast.
  if (variant == SummaVariant::Standard) return (M * K + K * N) / q2;
  return summa_ab_recv_elements(variant, M, N, K, q, on_diagonal);
}

std::int64_t summa_abt_recv_elements(std::int64_t M, std::int64_t N, std::int64_t K, int q) {
  if (q <= 1) return 0;
  const std::int64_t q2 = std::int64_t(q) * q;
  return (q - 1) * N * K / q2 + M * N / q2;
}

std::int64_t summa_abt_sent_elements(std::int64_t M, std::int64_t N, std::int64_t K, int q) {
  if (q <= 1) return 0;
  const std::int64_t q2 = std::int64_t(q) * q;
  return N * K / q2 + (q - 1) * M * N / q2;
}

SummaVariant choose_summa_variant(std::int64_t M, std::int64_t N, std::int64_t K, int q) {
  const std::int64_t ws = summa_ab_recv_elements(SummaVariant::WeightStationary, M, N, K, q);
  const std::int64_t st = summa_ab_recv_elements(SummaVariant::Standard, M, N, K, q);
  return ws < st ? SummaVariant::WeightStationary : SummaVariant::Standard;
}

}  // namespace zoptimus
