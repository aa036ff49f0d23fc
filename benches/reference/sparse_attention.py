"""PyTorch baselines for `gpu-sparse-attention`, on the same card in the same call.

    python3 benches/reference/sparse_attention.py [--json FILE] [--no-flex]

For each of the paper's shapes, forward + backward in bf16:
- SDPA with is_causal=True (the FlashAttention backend): the dense baseline;
- FlexAttention (torch.compile'd) with the same sparse pattern as a mask_mod: what PyTorch
  offers for custom patterns. Its block mask works at 128 x 128 blocks.
Timed with CUDA events, median of 7 batches after warm-up.
"""
import json
import sys

import torch
import torch.nn.functional as F

from timing import timed as timed_batches


def timed(fn, iters):
    return timed_batches(fn, iters, warmup=2, batches=7)


CASES = [
    # name, B, H, n, dqk, dv, (kind, l, c)
    ("enwik8: fixed l=128 c=32 merged", 4, 8, 12288, 64, 64, ("fixed", 128, 32)),
    ("imagenet64: strided l=128", 2, 16, 12288, 32, 32, ("strided", 128, 0)),
    ("audio: strided l=256", 1, 8, 65536, 64, 64, ("strided", 256, 0)),
    ("cifar10: strided l=96, QK 64 / V 128", 16, 2, 3072, 64, 128, ("strided", 96, 0)),
    ("dense causal (enwik8 shape)", 4, 8, 12288, 64, 64, ("dense", 0, 0)),
]




def mask_mod_for(kind, l, c, heads):
    """The paper's merged patterns (A1 or A2); fixed heads use summary sub-block h mod (l/c)."""
    if kind == "strided":
        def mm(b, h, q, k):
            return (k <= q) & (((q - k) < l) | ((q - k) % l == 0))
    elif kind == "fixed":
        def mm(b, h, q, k):
            s = h % (l // c)
            r = k % l
            summary = (r + c * (s + 1) >= l) & (r + c * s < l)
            return (k <= q) & ((q // l == k // l) | summary)
    else:
        def mm(b, h, q, k):
            return k <= q
    return mm


def main():
    args = sys.argv[1:]
    flex_on = "--no-flex" not in args
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    rows = []
    if flex_on:
        from torch.nn.attention.flex_attention import flex_attention, create_block_mask
        flex = torch.compile(flex_attention)
    for name, b, h, n, dqk, dv, (kind, l, c) in CASES:
        q = torch.randn(b, h, n, dqk, device=dev, dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(b, h, n, dqk, device=dev, dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(b, h, n, dv, device=dev, dtype=torch.bfloat16, requires_grad=True)
        do = torch.randn(b, h, n, dv, device=dev, dtype=torch.bfloat16)
        iters = 2 if n >= 65536 else 5
        row = {"case": name, "batch": b, "heads": h, "n": n, "dqk": dqk, "dv": dv}
        if dqk == dv:
            def sdpa():
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                out.backward(do)
            row["sdpa_ms"] = timed(sdpa, iters) * 1e3
        else:
            # SDPA's flash backend needs equal widths: pad QK to V's width (zeros change nothing).
            qp = torch.nn.functional.pad(q.detach(), (0, dv - dqk)).requires_grad_()
            kp = torch.nn.functional.pad(k.detach(), (0, dv - dqk)).requires_grad_()

            def sdpa():
                out = F.scaled_dot_product_attention(qp, kp, v, is_causal=True, scale=dqk ** -0.5)
                out.backward(do)
            row["sdpa_ms"] = timed(sdpa, iters) * 1e3
        if flex_on and kind != "dense":
            try:
                bm = create_block_mask(mask_mod_for(kind, l, c, h), b, h, n, n, device="cuda")

                def fl():
                    out = flex(q, k, v, block_mask=bm)
                    out.backward(do)
                row["flex_ms"] = timed(fl, iters) * 1e3
            except Exception as e:  # noqa: BLE001 - report and carry on
                row["flex_error"] = str(e).splitlines()[0][:200]
        q.grad = k.grad = v.grad = None
        print(json.dumps(row))
        rows.append(row)
        torch.cuda.empty_cache()
    if "--json" in args:
        path = args[args.index("--json") + 1]
        with open(path, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "results": rows}, f, indent=1)
        print("wrote", path)


if __name__ == "__main__":
    main()
