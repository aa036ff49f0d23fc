// softmax.cu: softmax / log-softmax over rows, their backward, and the masked softmax of the
// reference attention. One block per row; fp32 statistics. CPU references:
// kernels::softmax and kernels::attention.

// One warp per row (blockDim.x / 32 rows per block): rows of up to a few thousand elements
// stay in L1 between the passes, the reductions are warp shuffles (no __syncthreads), and
// loads and stores move 16-byte packs when the row allows.
#define WARP_ROWS(rows)                                                                     \
    int lane = threadIdx.x & 31;                                                            \
    i64 warps = (i64)gridDim.x * (blockDim.x >> 5);                                         \
    for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < (rows); r += warps)

// Calls F(j, value) for every element of row `xr` (length n), packed when `vec`.
#define ROW_FOR(xr, n, vec, F)                                                              \
    if (vec) {                                                                              \
        for (i64 j0 = (i64)lane * PACK; j0 < (n); j0 += 32 * PACK) {                        \
            Pack pk = *(const Pack*)((xr) + j0);                                            \
            for (int k = 0; k < PACK; ++k) { i64 j = j0 + k; float v = to_f(pk.v[k]); F }  \
        }                                                                                   \
    } else {                                                                                \
        for (i64 j = lane; j < (n); j += 32) { float v = to_f((xr)[j]); F }                 \
    }

// y = softmax(x) (or log_softmax when is_log) for each row of length n. One pass keeps a
// running max and a sum rescaled to it (online softmax); a second writes the result.
extern "C" __global__ void softmax_fwd(const elem* x, elem* y, i64 rows, i64 n, int is_log) {
    bool vec = n % PACK == 0 && aligned16(x) && aligned16(y);
    bool in_registers = vec && n <= 32 * PACK * ROW_PACKS;
    WARP_ROWS(rows) {
        if (in_registers) {
            Pack buf[ROW_PACKS];
            load_row(x + r * n, n, lane, buf);
            float m = -INFINITY;
#pragma unroll
            for (int t = 0; t < ROW_PACKS; ++t)
                if (((i64)lane + 32 * t) * PACK < n)
                    for (int k = 0; k < PACK; ++k) m = fmaxf(m, to_f(buf[t].v[k]));
            m = warp_max(m);
            float s = 0.0f;
#pragma unroll
            for (int t = 0; t < ROW_PACKS; ++t)
                if (((i64)lane + 32 * t) * PACK < n)
                    for (int k = 0; k < PACK; ++k) s += expf(to_f(buf[t].v[k]) - m);
            float lse = m + logf(warp_sum(s));
#pragma unroll
            for (int t = 0; t < ROW_PACKS; ++t) {
                i64 j0 = ((i64)lane + 32 * t) * PACK;
                if (j0 < n) {
                    for (int k = 0; k < PACK; ++k) { float v = to_f(buf[t].v[k]) - lse; buf[t].v[k] = from_f<elem>(is_log ? v : expf(v)); }
                    *(Pack*)(y + r * n + j0) = buf[t];
                }
            }
            continue;
        }
        const elem* xr = x + r * n;
        elem* yr = y + r * n;
        float m = -INFINITY, s = 0.0f;
        ROW_FOR(xr, n, vec, if (v > m) { s *= expf(m - v); m = v; } s += expf(v - m);)
        float mall = warp_max(m);
        s = warp_sum(m == -INFINITY ? 0.0f : s * expf(m - mall));
        float lse = mall + logf(s);
        if (vec) {
            for (i64 j0 = (i64)lane * PACK; j0 < n; j0 += 32 * PACK) {
                Pack pk = *(const Pack*)(xr + j0);
                for (int k = 0; k < PACK; ++k) { float v = to_f(pk.v[k]) - lse; pk.v[k] = from_f<elem>(is_log ? v : expf(v)); }
                *(Pack*)(yr + j0) = pk;
            }
        } else {
            for (i64 j = lane; j < n; j += 32) { float v = to_f(xr[j]) - lse; yr[j] = from_f<elem>(is_log ? v : expf(v)); }
        }
    }
}

// softmax: dx = y (g - <g, y>); log-softmax: dx = g - exp(y) sum(g). One warp per row.
extern "C" __global__ void softmax_bwd(const elem* y, const elem* g, elem* dx, i64 rows, i64 n, int is_log) {
    WARP_ROWS(rows) {
        const elem* yr = y + r * n;
        const elem* gr = g + r * n;
        float acc = 0.0f;
        for (i64 j = lane; j < n; j += 32) acc += is_log ? to_f(gr[j]) : to_f(gr[j]) * to_f(yr[j]);
        acc = warp_sum(acc);
        for (i64 j = lane; j < n; j += 32) {
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
