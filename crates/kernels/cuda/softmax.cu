// softmax.cu: softmax / log-softmax over rows, their backward, and the masked softmax of the
// reference attention. One block per row; fp32 statistics. CPU references:
// kernels::softmax and kernels::attention.

// y = softmax(x) (or log_softmax when is_log) for each row of length n.
extern "C" __global__ void softmax_fwd(const elem* x, elem* y, i64 rows, i64 n, int is_log) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const elem* xr = x + r * n;
        float m = -INFINITY;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, to_f(xr[j]));
        m = block_max(m);
        float s = 0.0f;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) s += expf(to_f(xr[j]) - m);
        s = block_sum(s);
        float lse = m + logf(s);
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
            float v = to_f(xr[j]) - lse;
            y[r * n + j] = from_f<elem>(is_log ? v : expf(v));
        }
    }
}

// softmax: dx = y (g - <g, y>); log-softmax: dx = g - exp(y) sum(g).
extern "C" __global__ void softmax_bwd(const elem* y, const elem* g, elem* dx, i64 rows, i64 n, int is_log) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const elem* yr = y + r * n; const elem* gr = g + r * n;
        float acc = 0.0f;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) acc += is_log ? to_f(gr[j]) : to_f(gr[j]) * to_f(yr[j]);
        acc = block_sum(acc);
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
            float yv = to_f(yr[j]), gv = to_f(gr[j]);
            dx[r * n + j] = from_f<elem>(is_log ? gv - expf(yv) * acc : yv * (gv - acc));
        }
    }
}

// Masked, scaled softmax of attention scores s: [BH * tq, tk] -> probabilities p and the
// per-row log-sum-exp (fp32; -inf for a row that sees no key, whose p is all zero).
// mask_kind: 0 none, 1 causal (j <= i + tk - tq), 2 boolean mask [heads, tq, tk].
__device__ __forceinline__ bool attn_allowed(int kind, const unsigned char* mask, i64 bh, i64 i, i64 j, i64 tq, i64 tk, i64 heads) {
    if (kind == 0) return true;
    if (kind == 1) return j + tq <= i + tk;
    return mask[((bh % heads) * tq + i) * tk + j] != 0;
}
extern "C" __global__ void attn_softmax(const elem* s, elem* p, float* lse, i64 rows, i64 tq, i64 tk, i64 heads,
                                        float scale, int kind, const unsigned char* mask) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        i64 bh = r / tq, i = r % tq;
        const elem* sr = s + r * tk;
        float m = -INFINITY;
        for (i64 j = threadIdx.x; j < tk; j += blockDim.x)
            if (attn_allowed(kind, mask, bh, i, j, tq, tk, heads)) m = fmaxf(m, scale * to_f(sr[j]));
        m = block_max(m);
        float sum = 0.0f;
        if (m != -INFINITY)
            for (i64 j = threadIdx.x; j < tk; j += blockDim.x)
                if (attn_allowed(kind, mask, bh, i, j, tq, tk, heads)) sum += expf(scale * to_f(sr[j]) - m);
        sum = block_sum(sum);
        float l = m == -INFINITY ? -INFINITY : m + logf(sum);
        for (i64 j = threadIdx.x; j < tk; j += blockDim.x) {
            bool ok = l != -INFINITY && attn_allowed(kind, mask, bh, i, j, tq, tk, heads);
            p[r * tk + j] = from_f<elem>(ok ? expf(scale * to_f(sr[j]) - l) : 0.0f);
        }
        if (threadIdx.x == 0) lse[r] = l;
    }
}
