"""Closed-form costs of one zoptimus run: problem size, FLOPs, parameters, and the bytes and
messages each rank moves per forward pass, derived from the code (src/model/transformer.cpp,
src/linalg/summa.hpp, src/parallel/comm_stats.hpp).

Byte accounting follows CommStats' logical convention (p = communicator size, n = payload):
  allreduce: sent = recv = 2(p-1)n/p;  reduce_scatter / allgather: (p-1)n/p;  bcast: root
  sends n, the others receive n;  transpose: n (0 on the diagonal). Integer divisions, as
  in the C++ code, so that the measured counters match exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

F32 = 4
F64 = 8


@dataclass(frozen=True)
class Mesh:
    mode: str  # "2d" or "1d"
    side: int  # q for 2d (q x q), t for 1d
    dp: int = 1
    pp: int = 1  # perturbation-parallel copies per replica (parallel.pp)

    @property
    def model_ranks(self) -> int:
        return self.side * self.side if self.mode == "2d" else self.side

    @property
    def ranks(self) -> int:
        return self.dp * self.pp * self.model_ranks

    def label(self) -> str:
        core = f"2D {self.side}x{self.side}" if self.mode == "2d" else f"1D t={self.side}"
        return core + (f" dp={self.dp}" if self.dp > 1 else "") + (f" pp={self.pp}" if self.pp > 1 else "")

    def family(self) -> str:
        """Mesh family: the partitioning without the size (2d, 1d, 2d+dp2, 2d+pp4...)."""
        return self.mode + (f"+dp{self.dp}" if self.dp > 1 else "") + (f"+pp{self.pp}" if self.pp > 1 else "")

    @staticmethod
    def from_ranks(mode: str, ranks: int, dp: int = 1) -> "Mesh | None":
        if ranks % dp:
            return None
        per = ranks // dp
        if mode == "2d":
            q = math.isqrt(per)
            return Mesh("2d", q, dp) if q * q == per else None
        return Mesh("1d", per, dp)


@dataclass(frozen=True)
class Problem:
    vocab: int
    hidden: int
    heads: int
    layers: int
    ffn: int
    max_positions: int
    batch: int  # sequences per data-parallel replica
    seq_len: int
    n_perturb: int = 1
    logits_chunk: int = 256  # model.logits_chunk_tokens: the LM head's tokens per chunk
    perturbation: str = "gaussian"  # optim.perturbation: its RNG cost per entry differs

    @staticmethod
    def from_deck(deck: dict) -> "Problem":
        m, d, o = deck.get("model", {}), deck.get("data", {}), deck.get("optim", {})
        return Problem(vocab=m.get("vocab", 512), hidden=m.get("hidden", 64),
                       heads=m.get("heads", 4), layers=m.get("layers", 2),
                       ffn=m.get("ffn", 256), max_positions=m.get("max_positions", 128),
                       batch=d.get("batch", 4), seq_len=d.get("seq_len", 32),
                       n_perturb=o.get("n_perturb", 1),
                       logits_chunk=m.get("logits_chunk_tokens", 256),
                       perturbation=o.get("perturbation", "gaussian"))

    def params(self) -> int:
        h, F, L = self.hidden, self.ffn, self.layers
        per_layer = 4 * h * h + 4 * h + 2 * h * F + F + h + 4 * h
        return self.vocab * h + (self.max_positions + 2) * h + L * per_layer + 2 * h

    def forward_flops(self, dp: int = 1) -> float:
        """FLOPs of one forward + LM head over the global batch (all replicas)."""
        T = self.batch * self.seq_len * dp
        h, F, L = self.hidden, self.ffn, self.layers
        gemm = 2.0 * T * (4 * h * h + 2 * h * F) * L + 2.0 * T * h * self.vocab
        attention = 4.0 * self.batch * dp * self.seq_len ** 2 * h * L
        return gemm + attention

    def forwards_per_step(self) -> int:
        return 2 * self.n_perturb

    def step_flops(self, dp: int = 1) -> float:
        """Problem size W: model FLOPs of one ZO step (2 n_perturb forwards)."""
        return self.forwards_per_step() * self.forward_flops(dp)


def _allreduce(n: int, p: int) -> int:
    return 2 * (p - 1) * n // p if p > 1 else 0


def _scatter(n: int, p: int) -> int:
    return (p - 1) * n // p if p > 1 else 0


def _summa_ab_recv(variant: str, M: int, N: int, K: int, q: int, diag: bool) -> int:
    if q <= 1:
        return 0
    q2 = q * q
    if variant == "standard":
        return (q - 1) * (M * K + K * N) // q2
    transpose = 0 if diag else M * K // q2
    return transpose + (q - 1) * M * K // q2 + (q - 1) * M * N // q2


def _summa_variant(M: int, N: int, K: int, q: int) -> str:
    ws = _summa_ab_recv("ws", M, N, K, q, False)
    st = _summa_ab_recv("standard", M, N, K, q, False)
    return "ws" if ws < st else "standard"


@dataclass
class Traffic:
    """Per-rank received bytes and calls of one forward + LM loss, by message class."""
    bytes: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)

    def add(self, cls: str, nbytes: float, calls: float) -> None:
        self.bytes[cls] = self.bytes.get(cls, 0) + nbytes
        self.calls[cls] = self.calls.get(cls, 0) + calls

    def total_bytes(self) -> float:
        return float(sum(self.bytes.values()))

    def total_calls(self) -> float:
        return float(sum(self.calls.values()))

    def scaled(self, k: float) -> "Traffic":
        return Traffic({c: v * k for c, v in self.bytes.items()},
                       {c: v * k for c, v in self.calls.items()})


def forward_traffic(pb: Problem, mesh: Mesh, summa: str = "auto") -> Traffic:
    """Average per-rank received bytes and calls of one forward + logits + loss reduction.

    Message classes: "summa" (2D panel broadcasts / transposes / gathers / scatters),
    "tp_allreduce" (1D activation allreduces), "row_small" (LayerNorm statistics and
    cross-entropy allreduces along a row), "loss" (the loss scalars over col and dp axes).
    """
    tr = Traffic()
    T = pb.batch * pb.seq_len
    h, F, L = pb.hidden, pb.ffn, pb.layers
    if mesh.mode == "2d":
        q = mesh.side
        if q > 1:
            Vp = -(-pb.vocab // q) * q
            tr.add("summa", _scatter(T * h // q, q) * F32, 1)  # embedding reduce-scatter
            gemm_calls = 0
            for K, N in ((h, 3 * h), (h, h), (h, F), (F, h)):
                v = summa if summa != "auto" else _summa_variant(T, N, K, q)
                v = "ws" if v == "weight_stationary" else v
                # average over ranks: q of the q^2 ranks sit on the diagonal
                off = _summa_ab_recv(v, T, N, K, q, False)
                on = _summa_ab_recv(v, T, N, K, q, True)
                tr.add("summa", L * ((q * q - q) * off + q * on) / (q * q) * F32, 0)
                gemm_calls += L * (2 * q if v == "standard" else 3)
            q2 = q * q
            tr.add("summa", ((q - 1) * Vp * h // q2 + T * Vp // q2) * F32, 0)  # A B^T head
            # the head: the embedding blocks go down the column once; the product is reduced
            # along the row once per chunk of local tokens
            chunks = -(-(T // q) // max(1, pb.logits_chunk))
            tr.calls["summa"] += gemm_calls + q + q * chunks
            ln = (T // q) * 2 * F64
            tr.add("row_small", (2 * L + 1) * _allreduce(ln, q), 2 * L + 1)
            tr.add("row_small", 3 * _allreduce((T // q) * F32, q), 3)
            tr.add("loss", _allreduce(3 * F64, q), 1)
    else:
        t = mesh.side
        if t > 1:
            tr.add("tp_allreduce", (1 + 2 * L) * _allreduce(T * h * F32, t), 1 + 2 * L)
            tr.add("row_small", 3 * _allreduce(T * F32, t), 3)
    # reduce_loss allreduces over dp on every mesh (a counted call that moves 0 bytes at dp=1)
    tr.add("loss", _allreduce(3 * F64, mesh.dp), 1)
    return tr


def local_params(pb: Problem, mesh: Mesh) -> float:
    """Parameters held per rank (2D splits every matrix over q^2, 1D over t)."""
    return pb.params() / mesh.model_ranks


def activation_bytes(pb: Problem, mesh: Mesh) -> float:
    """Rough per-rank activation bytes of one forward stream (2D splits tokens and features,
    1D replicates the [T, h] residual stream and splits only the [T, 3h] / [T, F] ones)."""
    T = pb.batch * pb.seq_len
    h, F = pb.hidden, pb.ffn
    if mesh.mode == "2d":
        q2 = mesh.side ** 2
        return (T * (6 * h + F) + T * pb.vocab) * F32 / q2
    t = mesh.side
    return (T * 3 * h + T * (3 * h + F) / t + T * pb.vocab / t) * F32


def attention_tile_pairs(seq_len: int, query_tile: int = 128, key_tile: int = 256) -> int:
    """(query tile, key tile) blocks the causal attention computes per sequence and head
    (src/kernels/attention_blocked.hpp: key tiles above the diagonal are skipped)."""
    tiles = -(-int(seq_len) // query_tile)
    return sum(-(-min(int(seq_len), (i + 1) * query_tile) // key_tile) for i in range(tiles))


def kernel_launches(pb: Problem, mesh: Mesh) -> float:
    """Kernels (GEMM calls and Kokkos parallel regions) one rank launches for one forward
    stream, following Transformer::forward and lm_loss: per layer two LayerNorms (statistics,
    apply), four linear layers (GEMM, bias/activation), two residual adds, and two GEMMs per
    (sequence, head, attention tile pair); then embedding + positions, the final LayerNorm,
    and per logits chunk the LM head GEMM and the cross-entropy's three passes. Each costs a
    fixed launch time whatever its size, which dominates small shapes."""
    side = mesh.side
    seqs = pb.batch / side if mesh.mode == "2d" else pb.batch
    heads = pb.heads / side
    per_layer = 2 * 2 + 4 * 2 + 2 + 2 * seqs * heads * attention_tile_pairs(pb.seq_len)
    chunks = math.ceil(seqs * pb.seq_len / max(1, pb.logits_chunk))
    return pb.layers * per_layer + 2 + 2 + chunks * (1 + 3)


def local_tensors(pb: Problem) -> int:
    """Parameter tensors each rank holds a block of (every tensor is split or replicated,
    never absent): token and position embeddings, 12 per layer, the final LayerNorm's two."""
    return 2 + 12 * pb.layers + 2
