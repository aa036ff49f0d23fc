"""PyTorch baselines for `gpu-dense`, measured on the same card in the same call.

    python3 benches/reference/dense_ops.py [--json FILE]

torch.matmul in bf16 is the raw cuBLAS(Lt) figure the engine's matmul is held against;
layer_norm, softmax, the paper's GELU (x * sigmoid(1.702 x)), the fused AdamW kernel and a
device-to-device copy give the bandwidth side. Timed with CUDA events, median of 9 batches.
"""
import json
import sys

import torch
from timing import timed




def main():
    dev = torch.device("cuda")
    rows = []
    n = 1 << 30
    src, dst = torch.zeros(n, dtype=torch.uint8, device=dev), torch.empty(n, dtype=torch.uint8, device=dev)
    t = timed(lambda: dst.copy_(src), 10)
    copy = 2 * n / t / 1e9
    rows.append(("copy_d2d_1GiB", copy, "GB/s"))
    del src, dst
    for size in (4096, 8192):
        a = torch.randn(size, size, dtype=torch.bfloat16, device=dev)
        b = torch.randn(size, size, dtype=torch.bfloat16, device=dev)
        t = timed(lambda: torch.matmul(a, b), 200 if size == 4096 else 40)
        rows.append((f"matmul_bf16_{size}", 2 * size**3 / t / 1e12, "TFLOP/s"))
    r, c = 65536, 1024
    x = torch.randn(r, c, dtype=torch.bfloat16, device=dev)
    ln = torch.nn.functional.layer_norm
    w, bias = torch.ones(c, dtype=torch.bfloat16, device=dev), torch.zeros(c, dtype=torch.bfloat16, device=dev)
    t = timed(lambda: ln(x, (c,), w, bias, 1e-5), 20)
    rows.append(("layer_norm_bf16_65536x1024", 4 * r * c / t / 1e9, "GB/s"))
    t = timed(lambda: torch.softmax(x, -1), 20)
    rows.append(("softmax_bf16_65536x1024", 4 * r * c / t / 1e9, "GB/s"))
    big = torch.randn(1 << 27, dtype=torch.bfloat16, device=dev)
    t = timed(lambda: big * torch.sigmoid(1.702 * big), 20)
    rows.append(("gelu_bf16_128M (x*sigmoid(1.702x), unfused)", 4 * (1 << 27) / t / 1e9, "GB/s"))
    del x, big
    np_ = 1 << 26
    p = torch.randn(np_, device=dev, requires_grad=True)
    p.grad = torch.randn(np_, device=dev)
    opt = torch.optim.AdamW([p], lr=1e-4, weight_decay=0.01, fused=True)
    t = timed(opt.step, 20)
    rows.append(("adam_fp32_fused_64M (fp32 grads)", 28 * np_ / t / 1e9, "GB/s"))
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    for name, value, unit in rows:
        frac = f"{100 * value / copy:.0f}%" if unit == "GB/s" and not name.startswith("copy") else ""
        print(f"{name:<46} {value:>10.1f}  {unit:<8} {frac:>6}")
    if "--json" in sys.argv:
        path = sys.argv[sys.argv.index("--json") + 1]
        with open(path, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "results": [{"name": n, "value": v, "unit": u} for n, v, u in rows]}, f, indent=1)


if __name__ == "__main__":
    main()
