#!/usr/bin/python3
"""PyTorch on the GPU beside zoptimus, for scripts/gpu_check: the OPT shape of a deck.

    scripts/gpu_torch_peer.py DECK.toml [--reps N] [--device cuda]

With random weights of the deck's [model] shape and a synthetic batch of its [data] batch
and seq_len (one rank: the whole batch), it times, in fp32 with TF32 off (as zoptimus's
cuBLAS GEMMs), PyTorch's forward + loss and MeZO's reference step (scripts/torch_peer.py's
OptPeer: four in-place passes over the parameters and two forwards), and the bare cuBLAS
GEMMs (torch.mm) of the forward's shapes on one rank. Prints key=value lines:

    torch_forward_ms, torch_mezo_step_ms, torch_step_over_2_forward, torch_tokens_per_s,
    torch_peak_device_bytes, cublas_gemm_tflops (the bare GEMMs, fp32)

Exits with 3 and a message when PyTorch or its CUDA device is missing.
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_peer  # noqa: E402  (the OPT peer shared with the CPU benchmark matrix)

torch = torch_peer.torch
MISSING = 3


def read_deck(path):
    """The [model] and [data] integers and strings of a zoptimus deck (flat TOML subset)."""
    out, section = {}, ""
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^\[([\w.]+)\]$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r'^(\w+)\s*=\s*"?([\w.+-]+)"?$', line)
            if m and section in ("model", "data"):
                out[f"{section}.{m.group(1)}"] = m.group(2)
    return out


def random_params(m, device, seed=1):
    g = torch.Generator(device=device).manual_seed(seed)
    h, f, v, p = m["hidden"], m["ffn"], m["vocab"], m["max_positions"]

    def t(*shape, base=0.0):
        return base + 0.02 * torch.randn(*shape, generator=g, device=device)

    params = {"embed_tokens": t(v, h), "embed_positions": t(p + 2, h)}
    for l in range(m["layers"]):
        z = f"layers.{l}."
        params.update({z + "attn_ln.weight": t(h, base=1.0), z + "attn_ln.bias": t(h),
                       z + "qkv.weight": t(h, 3 * h), z + "qkv.bias": t(3 * h),
                       z + "out.weight": t(h, h), z + "out.bias": t(h),
                       z + "mlp_ln.weight": t(h, base=1.0), z + "mlp_ln.bias": t(h),
                       z + "fc1.weight": t(h, f), z + "fc1.bias": t(f),
                       z + "fc2.weight": t(f, h), z + "fc2.bias": t(h)})
    params["final_ln.weight"] = t(h, base=1.0)
    params["final_ln.bias"] = t(h)
    return params


def timed(fn, sync):
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def bare_gemm_tflops(m, tokens, reps, device, sync):
    """The forward's GEMM shapes on one rank (as zoptimus's bench forward lists them)."""
    h, f, v = m["hidden"], m["ffn"], m["vocab"]
    shapes = [(tokens, h, 3 * h), (tokens, h, h), (tokens, h, f), (tokens, f, h)] * m["layers"]
    shapes.append((tokens, h, v))
    flops = seconds = 0.0
    for (mm, k, n) in shapes:
        a = torch.full((mm, k), 0.5, device=device)
        b = torch.full((k, n), 0.25, device=device)
        torch.mm(a, b)  # warm-up
        seconds += timed(lambda: [torch.mm(a, b) for _ in range(reps)], sync)
        flops += 2.0 * mm * k * n * reps
    return flops / seconds / 1e12


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("deck")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args(argv)
    if torch is None:
        print("gpu_torch_peer: PyTorch is not importable", file=sys.stderr)
        return MISSING
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_torch_peer: PyTorch has no CUDA device", file=sys.stderr)
        return MISSING
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 GEMMs, as zoptimus's default
    torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    d = read_deck(a.deck)
    m = {k: int(d[f"model.{k}"]) for k in ("vocab", "hidden", "heads", "layers", "ffn",
                                           "max_positions")}
    m["activation"] = d.get("model.activation", "relu")
    m["layernorm_eps"] = 1e-5
    batch, seq = int(d["data.batch"]), int(d["data.seq_len"])
    b = torch_peer.synthetic_batch(batch, seq, m["vocab"], 0, "lm")
    tb = {k: torch.from_numpy(v).to(a.device) for k, v in b.items()}
    with torch.no_grad():
        model = torch_peer.OptPeer(m, random_params(m, a.device))
        if a.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        model.loss(tb)  # warm-up
        model.mezo_step(tb, seed=0)
        fwd = sorted(timed(lambda: model.loss(tb), sync) for _ in range(a.reps))[a.reps // 2]
        step = sorted(timed(lambda r=r: model.mezo_step(tb, seed=r + 1), sync)
                      for r in range(a.reps))[a.reps // 2]
        peak = torch.cuda.max_memory_allocated() if a.device.startswith("cuda") else 0
        gemm = bare_gemm_tflops(m, batch * seq, a.reps, a.device, sync)
    print(f"torch_forward_ms={fwd * 1e3:.3f}")
    print(f"torch_mezo_step_ms={step * 1e3:.3f}")
    print(f"torch_step_over_2_forward={step / (2 * fwd):.3f}")
    print(f"torch_tokens_per_s={batch * seq / fwd:.1f}")
    print(f"torch_peak_device_bytes={peak}")
    print(f"cublas_gemm_tflops={gemm:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
