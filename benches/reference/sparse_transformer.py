"""PyTorch reference of the Sparse Transformer, for the golden check of the engine.

    python3 benches/reference/sparse_transformer.py DIR [--json FILE]

DIR holds the files written by the engine's `golden` binary: for each case the weights (by
their stable names), the input bytes, the engine's logits and loss, and every parameter
gradient (`grad.<name>`), with the configuration in the metadata. This script builds the
same architecture independently (pre-activation residual blocks, half-size QK, the factorized
patterns from their set definitions, GELU as x * sigmoid(1.702 x), factorized position
embeddings), loads the same weights, runs forward and backward in float64 and reports the
relative error ||engine - torch|| / ||torch|| of the logits, the loss and every gradient.
Exits non-zero if any exceeds 1e-4.
"""
import glob
import json
import os
import struct
import sys

import torch

TOL = 1e-4
DTYPES = {"F64": torch.float64, "F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I32": torch.int32, "U8": torch.uint8}


def load_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        buf = bytearray(data[8 + n + start:8 + n + end])
        tensors[name] = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).clone()
    return tensors, meta


def allows(meta, part, head, i, j):
    """The paper's sets (see model::pattern): A1 local, A2 column / summary."""
    if j > i:
        return False
    kind = meta["pattern"]
    if kind == "dense":
        return True
    if kind == "strided":
        l = int(meta["stride"])
        a1, a2 = i - j < l, (i - j) % l == 0
    else:
        l, c = int(meta["block"]), int(meta["summary"])
        s = head % (l // c)
        a1 = j // l == i // l
        a2 = l - c * (s + 1) <= j % l < l - c * s
    return {"local": a1, "summary": a2, "union": a1 or a2}[part]


def layer_parts(meta, layer, heads):
    mode = meta["integration"]
    if mode == "merged":
        return ["union"] * heads
    if mode == "interleave":
        return ["local" if layer % 2 == 0 else "summary"] * heads
    return ["local" if h % 2 == 0 else "summary" for h in range(heads)]


def masks(meta, layers, heads, n, device):
    out = []
    for layer in range(layers):
        parts = layer_parts(meta, layer, heads)
        m = torch.zeros(heads, n, n, dtype=torch.bool)
        for h in range(heads):
            for i in range(n):
                for j in range(i + 1):
                    m[h, i, j] = allows(meta, parts[h], h, i, j)
        out.append(m.to(device))
    return out


def position_ids(meta, n):
    kind, *dims = meta["positions"].split(":")
    dims = [int(x) for x in dims]
    t = torch.arange(n)
    if kind == "text":
        (l,) = dims
        return {"pos.row": t // l, "pos.column": t % l}
    _, w, c = dims
    return {"pos.row": t // (w * c), "pos.column": (t // c) % w, "pos.channel": t % c}


def layer_norm(x, g, b):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), g, b, 1e-5)


def forward(w, meta, ids, mask_list):
    L, H, d, dqk = (int(meta[k]) for k in ("layers", "heads", "d_model", "d_qk"))
    x, targets = ids[:, :-1], ids[:, 1:]
    B, T = x.shape
    h = w["tokens.table"][x]
    for name, pos in position_ids(meta, T).items():
        h = h + w[f"{name}.table"][pos.to(x.device)][None]
    for i in range(L):
        p = f"blocks.{i}"
        a = layer_norm(h, w[f"{p}.ln1.gamma"], w[f"{p}.ln1.beta"])
        qkv = a @ w[f"{p}.attn.qkv.weight"] + w[f"{p}.attn.qkv.bias"]
        q, k, v = qkv.split([dqk, dqk, d], dim=-1)
        q, k, v = (t.reshape(B, T, H, -1).permute(0, 2, 1, 3) for t in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / (dqk // H) ** 0.5
        m = mask_list[i][None]
        s = s.masked_fill(~m, float("-inf"))
        probs = torch.softmax(s, dim=-1)
        probs = torch.where(m.any(-1, keepdim=True), probs, torch.zeros_like(probs))  # rows that see no key
        o = (probs @ v).permute(0, 2, 1, 3).reshape(B, T, d)
        h = h + (o @ w[f"{p}.attn.proj.weight"] + w[f"{p}.attn.proj.bias"])
        f = layer_norm(h, w[f"{p}.ln2.gamma"], w[f"{p}.ln2.beta"]) @ w[f"{p}.ff.fc1.weight"] + w[f"{p}.ff.fc1.bias"]
        f = f * torch.sigmoid(1.702 * f)
        h = h + (f @ w[f"{p}.ff.fc2.weight"] + w[f"{p}.ff.fc2.bias"])
    logits = layer_norm(h, w["ln_f.gamma"], w["ln_f.beta"]) @ w["head.weight"] + w["head.bias"]
    loss = torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))
    return logits, loss


def rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def check(path, device):
    t, meta = load_safetensors(path)
    names = [k[len("grad."):] for k in t if k.startswith("grad.")]
    w = {n: t[n].to(device, torch.float64).requires_grad_(True) for n in names}
    ids = t["input_ids"].long().to(device)
    mask_list = masks(meta, int(meta["layers"]), int(meta["heads"]), ids.shape[1] - 1, device)
    logits, loss = forward(w, meta, ids, mask_list)
    loss.backward()
    grad_errs = {n: rel(t[f"grad.{n}"], w[n].grad) for n in names}
    worst = max(grad_errs, key=grad_errs.get)
    return {
        "logits": rel(t["logits"], logits.detach()),
        "loss": rel(t["loss"].reshape(()), loss.detach()),
        "worst_grad": grad_errs[worst],
        "worst_grad_name": worst,
        "grads": len(names),
    }


def main():
    folder = sys.argv[1]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results, ok = {}, True
    print(f"torch {torch.__version__}, reference in float64 on {device}")
    print(f"{'case':<26} {'logits':>9} {'loss':>9} {'worst grad':>11}  (of N)  where")
    for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
        name = os.path.basename(path)[: -len(".safetensors")]
        r = check(path, device)
        results[name] = r
        worst = max(r["logits"], r["loss"], r["worst_grad"])
        ok &= worst <= TOL
        print(f"{name:<26} {r['logits']:9.2e} {r['loss']:9.2e} {r['worst_grad']:11.2e}  ({r['grads']})  {r['worst_grad_name']}")
    print("golden check:", "PASS" if ok else "FAIL", f"(tolerance {TOL:g})")
    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
