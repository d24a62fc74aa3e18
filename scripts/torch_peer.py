#!/usr/bin/python3
"""PyTorch peer of zoptimus for the benchmark matrix: the same OPT model, weights and batch.

    scripts/torch_peer.py CKPT.h5 --batch B --seq S [--task lm|classification] [--data-seed N]

The model is written here from the OPT equations (pre-LayerNorm decoder, learned positions
at offset 2, tied LM head), reading the parameters of a zoptimus checkpoint in zoptimus's
layout (weights [in, out], q/k/v interleaved per head). The batch is zoptimus's synthetic
batch 0, rebuilt bit for bit (src/io/synthetic_data.cpp). It prints the loss, then the time
of a forward + loss and of MeZO's reference step (four in-place passes over the parameters:
+eps z, -2 eps z, +eps z, update -lr g z, z regenerated from the step's seed each time).

PyTorch is optional (not in scripts/setup): on Debian `apt-get install -y python3-torch`,
run with /usr/bin/python3. Without it this prints a message and exits with status 3.
One thread: torch.set_num_threads(1); set OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1.
"""
import argparse
import math
import sys
import time

import h5py
import numpy as np

TORCH_MISSING = 3

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

M64 = (1 << 64) - 1


def _splitmix64(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(M64)
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(M64)
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(M64)
    return x ^ (x >> np.uint64(31))


def synthetic_batch(batch, seq, vocab, seed, task="lm", index=0):
    """zoptimus's synthetic_batch(data, vocab, replica=0, dp=1, index) in numpy."""
    classify = task == "classification"
    v = vocab - 2 if classify else vocab
    with np.errstate(over="ignore"):
        g = (np.arange(batch, dtype=np.uint64) + np.uint64(index * batch))[:, None]
        p = np.arange(seq, dtype=np.uint64)[None, :]
        h = _splitmix64(np.uint64(seed) ^ _splitmix64(g ^ _splitmix64(p)))
    u = (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    fresh = (float(v) * u * u * u).astype(np.int64)
    follow = (h & np.uint64(1)).astype(bool)
    tokens = np.zeros((batch, seq), dtype=np.int64)
    prev = np.zeros(batch, dtype=np.int64)
    for i in range(seq):
        tok = fresh[:, i] if i == 0 else np.where(follow[:, i], (prev * 7 + 3) % v, fresh[:, i])
        tokens[:, i] = tok
        prev = tok
    targets = np.full((batch, seq), -1, dtype=np.int64)
    targets[:, :-1] = tokens[:, 1:]
    out = {"tokens": tokens, "targets": targets}
    if classify:
        out["label_words"] = np.array([vocab - 2, vocab - 1])
        out["labels"] = tokens[:, 0] % 2
    return out


def read_params(path):
    with h5py.File(path, "r") as f:
        a = f["model"].attrs
        m = {k: int(a[k]) for k in ("vocab", "hidden", "heads", "layers", "ffn", "max_positions")}
        act = a.get("activation", "relu")
        m["activation"] = act.decode() if isinstance(act, bytes) else str(act)
        m["layernorm_eps"] = float(a.get("layernorm_eps", 1e-5))
        params = {name: torch.from_numpy(np.ascontiguousarray(d[...])) for name, d in f["params"].items()}
    return m, params


class OptPeer:
    """OPT decoder forward from the equations, on zoptimus-layout tensors."""

    def __init__(self, m, params):
        self.m, self.p = m, params
        self.names = list(params)  # the order of the MeZO passes
        self.act = F.relu if m["activation"] == "relu" else F.gelu

    def ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.p[name + ".weight"], self.p[name + ".bias"],
                            self.m["layernorm_eps"])

    def hidden(self, tokens):
        m, p = self.m, self.p
        B, S = tokens.shape
        H, nh = m["hidden"], m["heads"]
        dh = H // nh
        x = p["embed_tokens"][tokens] + p["embed_positions"][2:S + 2]
        mask = torch.full((S, S), float("-inf"), device=tokens.device).triu_(1)
        for l in range(m["layers"]):
            z = f"layers.{l}."
            h = self.ln(x, z + "attn_ln")
            qkv = torch.addmm(p[z + "qkv.bias"], h.reshape(B * S, H), p[z + "qkv.weight"])
            qkv = qkv.view(B, S, nh, 3, dh).permute(3, 0, 2, 1, 4)  # [3, B, nh, S, dh]
            q, k, v = qkv[0], qkv[1], qkv[2]
            s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(dh)) + mask
            o = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B * S, H)
            x = x + torch.addmm(p[z + "out.bias"], o, p[z + "out.weight"]).view(B, S, H)
            h = self.ln(x, z + "mlp_ln").reshape(B * S, H)
            f = self.act(torch.addmm(p[z + "fc1.bias"], h, p[z + "fc1.weight"]))
            x = x + torch.addmm(p[z + "fc2.bias"], f, p[z + "fc2.weight"]).view(B, S, H)
        return self.ln(x, "final_ln")

    def loss(self, batch):
        h = self.hidden(batch["tokens"])
        E = self.p["embed_tokens"][: self.m["vocab"]]
        if "labels" in batch:
            last = h[:, -1, :]
            logits = last @ E[batch["label_words"]].t()
            return F.cross_entropy(logits, batch["labels"])
        logits = h.reshape(-1, h.shape[-1]) @ E.t()
        return F.cross_entropy(logits, batch["targets"].reshape(-1), ignore_index=-1)

    def perturb(self, seed, scale, perturbation="gaussian"):
        torch.manual_seed(seed)
        for n in self.names:
            t = self.p[n]
            if perturbation == "rademacher":  # z = 2b - 1, b uniform on {0, 1}
                # randint: PyTorch 1.13's bernoulli_ is 3x slower on one core (550 vs 170 ms
                # for 38.6M entries) and would make the peer look worse than it is.
                b = torch.randint(0, 2, t.shape, dtype=t.dtype, device=t.device)
                t.add_(b.mul_(2 * scale).sub_(scale))
            else:
                z = torch.normal(mean=0.0, std=1.0, size=t.shape, dtype=t.dtype, device=t.device)
                t.add_(z, alpha=scale)

    def mezo_step(self, batch, seed, eps=1e-3, lr=1e-6, perturbation="gaussian"):
        """MeZO's reference step (Malladi et al., Algorithm 1), in place; `perturbation`
        "rademacher" draws z = +-1 instead of N(0, 1) (as zoptimus's optim.perturbation)."""
        self.perturb(seed, eps, perturbation)
        l1 = self.loss(batch)
        self.perturb(seed, -2 * eps, perturbation)
        l2 = self.loss(batch)
        self.perturb(seed, eps, perturbation)
        g = float(l1 - l2) / (2 * eps)
        self.perturb(seed, -lr * g, perturbation)
        return g


def load(ckpt, batch, seq, task, data_seed):
    torch.set_num_threads(1)
    m, params = read_params(ckpt)
    b = synthetic_batch(batch, seq, m["vocab"], data_seed, task)
    tb = {k: torch.from_numpy(v) for k, v in b.items()}
    return OptPeer(m, params), tb


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--task", default="lm", choices=["lm", "classification"])
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args(argv)
    if torch is None:
        print("torch_peer: PyTorch is not installed (optional; Debian: apt-get install -y "
              "python3-torch); skipped", file=sys.stderr)
        return TORCH_MISSING
    model, batch = load(a.checkpoint, a.batch, a.seq, a.task, a.data_seed)
    with torch.no_grad():
        print(f"loss={float(model.loss(batch)):.6f}")
        for r in range(a.reps):
            t = time.perf_counter()
            model.loss(batch)
            fwd = time.perf_counter() - t
            t = time.perf_counter()
            model.mezo_step(batch, seed=r)
            print(f"forward_ms={fwd * 1e3:.3f} mezo_step_ms={(time.perf_counter() - t) * 1e3:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
