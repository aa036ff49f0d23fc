// sparse_attention_steps.cuh: the arithmetic of one tile that every version of the fused
// sparse attention shares (compiled right after sparse_attention_common.cuh, whose fragments and
// warp products it builds on): which tile a block works on, the rows' visibility bounds, the
// forward's online softmax, the backward's P, dS and dQ / dK / dV steps, and the statistics of
// a query tile.

// ---------------------------------------------------------------- per-tile steps
// The arithmetic of one tile, shared by every version; the versions differ in how tiles reach
// shared memory.

// What one block works on: sequence s, batch b, head h (with its summary offset), and the
// tile of `rows` queries (or keys) at p0; qc queries exist in the sequence.
struct Tile {
    int s, b, h, off, qc, p0, p_last;
};

// Tile `tile` of sequence s of the part's batch-head pair bz (b = bz / heads, head of index bz % heads).
__device__ __forceinline__ Tile tile_at(const Part& P, int bz, int s, int tile, int rows) {
    Tile t;
    t.s = s;
    t.b = bz / P.heads;
    t.h = head_of(P, bz % P.heads);
    t.off = off_of(P, t.h);
    t.qc = q_count(P, t.s);
    t.p0 = tile * rows;
    t.p_last = min(t.p0 + rows, t.qc) - 1;
    return t;
}

// Version 10 launches the grid as (B * heads, n_seq, tiles) instead of (tiles, n_seq, B *
// heads): blocks start in order of x fastest, so the heaviest tiles now start first (the last
// query tiles see the most keys; the first key tiles are seen by the most queries) and the
// light ones fill the tail, rather than a long tile starting last.
__device__ __forceinline__ Tile tile_of(const Part& P, int rows, bool query_tiles = true) {
#if SA_VERSION >= 12
    // Version 12: windowed parts, whose tiles all weigh the same, keep tiles fastest (the
    // neighbours share key tiles in L2); the host's `tile_grid` lays the grid out to match.
    const bool by_weight = P.window == 0;
    const int bz = by_weight ? blockIdx.x : blockIdx.z;
    const int tile = !by_weight ? blockIdx.x : query_tiles ? gridDim.z - 1 - blockIdx.z : blockIdx.z;
#elif SA_VERSION >= 10
    const int bz = blockIdx.x, tile = query_tiles ? gridDim.z - 1 - blockIdx.z : blockIdx.z;
#else
    const int bz = blockIdx.z, tile = blockIdx.x;
#endif
    return tile_at(P, bz, blockIdx.y, tile, rows);
}

template <int N>
__device__ __forceinline__ void zero(float (&acc)[N][4]) {
    for (int j = 0; j < N; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
}

// The visibility bounds (and, for the backward, lse and D) of a warp's two query rows per
// thread: rows r0 + g and r0 + g + 8 of the tile at p0.
struct Rows {
    int lo[2], hi[2];
    float m_run[2], l_run[2];  // forward: running max (log2 domain) and sum
    float lse2[2], dd[2];      // backward: lse (log2 domain) and D = rowsum(dO O)
};

__device__ __forceinline__ Rows rows_of(const Part& P, int s, int p0, int p_last, int off, int r0, int lane) {
    Rows R;
    for (int i = 0; i < 2; ++i) {
        int p = p0 + r0 + (lane >> 2) + 8 * i;
        bool ok = p <= p_last;
        R.lo[i] = ok ? lo_of(P, p) : 1;
        R.hi[i] = ok ? hi_of(P, p, off) : -1;
        R.m_run[i] = -INFINITY;
        R.l_run[i] = 0.f;
        R.lse2[i] = 0.f;
        R.dd[i] = 0.f;
    }
    return R;
}

// The backward's statistics of the same rows: lse (log2 domain) and D.
__device__ __forceinline__ void row_stats(Rows& R, const Part& P, const Tile& t, i64 bh, const float* lse, const float* dsum, int warp, int lane) {
    for (int i = 0; i < 2; ++i) {
        int p = t.p0 + warp * 16 + (lane >> 2) + 8 * i;
        if (p <= t.p_last) {
            R.lse2[i] = lse[bh + q_row(P, t.s, p)] * LOG2E;
            R.dd[i] = dsum[bh + q_row(P, t.s, p)];
        }
    }
}

// 2^x. Version 15 uses the hardware approximation alone (ex2.approx.ftz: one instruction),
// not exp2f, which wraps it in a range check and two scalings for results below 2^-126 (four
// instructions an element: the softmax and softmax-gradient loops are issue-bound; results
// that small are flushed to zero here, a relative weight no sum can feel).
__device__ __forceinline__ float exp2_(float x) {
#if SA_VERSION >= 15
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#else
    return exp2f(x);
#endif
}

// The online softmax of one key tile for a warp's 16 query rows: mask (MASK = false: every
// row sees every key of the tile, the caller checked; v5), scale, new running max, P =
// exp(S - max) in place of S, running sum, and O rescaled by exp(old max - new max).
// (`softmax_tile` does all but the rescaling of O, returning whether O needs it, by alpha.)
template <bool MASK>
__device__ __forceinline__ bool softmax_tile(float (&sc)[8][4], Rows& R, float (&alpha)[2], int t0, float sl2, int lane) {
    const int c2 = (lane & 3) * 2;
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            int i = e >> 1, m = t0 + j * 8 + c2 + (e & 1);
#if SA_VERSION >= 6
            // v6: the maximum of the raw scores (scale > 0), scaled once per row below.
            float x = (!MASK || (m >= R.lo[i] && m <= R.hi[i])) ? sc[j][e] : -INFINITY;
#else
            float x = (!MASK || (m >= R.lo[i] && m <= R.hi[i])) ? sc[j][e] * sl2 : -INFINITY;
#endif
            sc[j][e] = x;
            mx[i] = fmaxf(mx[i], x);
        }
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffff, mx[i], 1));
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffff, mx[i], 2));
#if SA_VERSION >= 6
        mx[i] *= sl2;
#endif
    }
#if SA_VERSION >= 15
    // Version 15: the running max of the warp's rows moves only when some row's tile maximum
    // exceeds it by more than 8 (log2 units); otherwise exp(S - old max) <= 2^8 is safe in fp32
    // (and bf16), and O and the running sum, kept relative to the same max, need no rescaling
    // (32 multiplies and 2 exponentials a thread per tile saved, the usual case once a row has
    // seen its first tiles). The final normalisation is unchanged.
    const bool rescale = !__all_sync(0xffffffff, mx[0] <= R.m_run[0] + 8.f && mx[1] <= R.m_run[1] + 8.f);
#else
    constexpr bool rescale = true;
#endif
    alpha[0] = alpha[1] = 1.f;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        if (rescale) {
            float m_new = fmaxf(R.m_run[i], mx[i]);
            float m_use = m_new == -INFINITY ? 0.f : m_new;
            alpha[i] = exp2_(R.m_run[i] - m_use);
            R.m_run[i] = m_new;
            mx[i] = m_use;
            R.l_run[i] *= alpha[i];
        } else {
            mx[i] = R.m_run[i] == -INFINITY ? 0.f : R.m_run[i];  // (then every score of the row is -inf)
        }
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
#if SA_VERSION >= 6
            float p = exp2_(fmaf(sc[j][e], sl2, -mx[e >> 1]));  // one FFMA; -inf stays -inf
#else
            float p = exp2_(sc[j][e] - mx[e >> 1]);
#endif
            sc[j][e] = p;
            R.l_run[e >> 1] += p;
        }
    }
    return rescale;
}
// O *= alpha (row g: alpha[0], row g + 8: alpha[1]).
__device__ __forceinline__ void rescale_rows(float (&o)[DV / 8][4], const float (&alpha)[2]) {
#pragma unroll
    for (int j = 0; j < DV / 8; ++j) {
        o[j][0] *= alpha[0];
        o[j][1] *= alpha[0];
        o[j][2] *= alpha[1];
        o[j][3] *= alpha[1];
    }
}
template <bool MASK>
__device__ __forceinline__ void online_softmax(float (&sc)[8][4], Rows& R, float (&o)[DV / 8][4], int t0, float sl2, int lane) {
    float alpha[2];
    if (softmax_tile<MASK>(sc, R, alpha, t0, sl2, lane)) rescale_rows(o, alpha);
}

#if SA_VERSION >= 30
// Version 30: the forward's softmax with fewer instructions between its two products (the
// H200 profile of v29's forward: its issue slots, MUFU and tensor pipes each 40-50% busy, the
// ImageNet forward's issue slots 60-67%, so instructions count).
//  - No tile maximum in the usual case. Once a row has a running max m, P = 2^(S sl2 - m) is
//    computed against it straight away and packed to the element type; one packed maximum of
//    the thread's 16 pairs (`max.bf16x2`) checks that no P exceeds 2^8, version 15's bound.
//    Only when one does (or a row has no max yet) does the tile take v15's path: its maximum
//    (32 comparisons and 4 shuffles a thread), the new running max, O rescaled, P again.
//  - The row sums by the tensor cores: P times a column of ones, in the same products as P V
//    (`sums`: every column of that 8-wide accumulator holds the row's sum), instead of 32
//    additions a thread; the sum is then of P as rounded for P V, the same weights.
// v29's 64-row wgmma forward ran ~311 instructions a warp per key tile (enwik8); these two
// take out ~70.

// P = 2^(S sl2 - m) of the warp's rows (m[0]: row g, m[1]: row g + 8), packed as the A
// fragments of four K-steps (`frag_regs`); masked scores (-inf) give 0.
__device__ __forceinline__ void exp_packed(unsigned (&pa)[4][4], const float (&sc)[8][4], const float (&m)[2], float sl2) {
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        float x0[4], x1[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            x0[e] = exp2_(fmaf(sc[2 * k][e], sl2, -m[e >> 1]));
            x1[e] = exp2_(fmaf(sc[2 * k + 1][e], sl2, -m[e >> 1]));
        }
        frag_regs(pa[k], x0, x1);
    }
}

// Whether every packed p of the thread is at most 2^8, v15's bound (`MMA::max2`, then the bits
// of the largest: those of non-negative bf16 / fp16 values order like their values, inf and
// NaN above all).
__device__ __forceinline__ bool p_within_bound(const unsigned (&pa)[4][4]) {
    unsigned m[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) m[k] = MMA::max2(MMA::max2(pa[k][0], pa[k][1]), MMA::max2(pa[k][2], pa[k][3]));
    const unsigned top = MMA::max2(MMA::max2(m[0], m[1]), MMA::max2(m[2], m[3]));
    return (top & 0xFFFF) <= MMA::bits_256() && (top >> 16) <= MMA::bits_256();
}

// The online softmax of one key tile (`softmax_tile`'s job) with P packed into `pa`; returns
// whether O and the row sums need rescaling by alpha.
template <bool MASK>
__device__ __forceinline__ bool softmax_packed(float (&sc)[8][4], Rows& R, unsigned (&pa)[4][4], float (&alpha)[2], int t0, float sl2, int lane) {
    const int c2 = (lane & 3) * 2;
    if (MASK) {
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int i = e >> 1, m = t0 + j * 8 + c2 + (e & 1);
                if (!(m >= R.lo[i] && m <= R.hi[i])) sc[j][e] = -INFINITY;
            }
    }
    alpha[0] = alpha[1] = 1.f;
    if (__all_sync(0xffffffff, R.m_run[0] != -INFINITY && R.m_run[1] != -INFINITY)) {
        exp_packed(pa, sc, R.m_run, sl2);
        if (__all_sync(0xffffffff, p_within_bound(pa))) return false;
    }
    // v15's path: the tile maximum, a new running max, P against it
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) mx[e >> 1] = fmaxf(mx[e >> 1], sc[j][e]);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffff, mx[i], 1));
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffff, mx[i], 2));
        const float m_new = fmaxf(R.m_run[i], mx[i] * sl2), m_use = m_new == -INFINITY ? 0.f : m_new;
        alpha[i] = exp2_(R.m_run[i] - m_use);
        R.m_run[i] = m_new;
        mx[i] = m_use;
    }
    exp_packed(pa, sc, mx, sl2);
    return true;
}

// O and the row sums *= alpha (row g: alpha[0], row g + 8: alpha[1]).
__device__ __forceinline__ void rescale_with_sums(float (&o)[DV / 8][4], float (&sums)[4], const float (&alpha)[2]) {
    rescale_rows(o, alpha);
    sums[0] *= alpha[0];
    sums[1] *= alpha[0];
    sums[2] *= alpha[1];
    sums[3] *= alpha[1];
}

// The B fragment (k16 x n8) of a column block of ones.
__device__ __forceinline__ void ones_fragment(unsigned (&b)[2]) { b[0] = b[1] = MMA::pack(1.f, 1.f); }

// The row sums as `fwd_merge` expects them: spread over the 4 lanes of a row, which it adds
// (here the first lane holds the whole sum, the others 0, so the addition is exact).
__device__ __forceinline__ void sums_to_rows(Rows& R, const float (&sums)[4], int lane) {
    R.l_run[0] = (lane & 3) == 0 ? sums[0] : 0.f;
    R.l_run[1] = (lane & 3) == 0 ? sums[2] : 0.f;
}

// Version 30's `fwd_tile_m` (sparse_attention_v3.cu): P packed by the softmax, and the row sums
// from the tensor cores, P times a column block of ones after each K-step's P V products (one
// more mma a K-step: `sums`).
template <bool MASK, int MT>
__device__ __forceinline__ void fwd_tile_sums(float (&o)[MT][DV / 8][4], float (&sums)[MT][4], Rows (&R)[MT], const elem* Qs, const elem* Ks, const elem* Vs, int t0, float sl2, int r0, int lane) {
    float sc[MT][8][4];
    warp_abt_m<MT, DQK, LDQ, LDQ>(sc, Qs, r0, Ks, lane);
    unsigned pa[MT][4][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        float alpha[2];
        if (softmax_packed<MASK>(sc[mt], R[mt], pa[mt], alpha, t0, sl2, lane)) rescale_with_sums(o[mt], sums[mt], alpha);
    }
    unsigned ones[2];
    ones_fragment(ones);
#pragma unroll
    for (int t = 0; t < 4; ++t) {  // O += P V, sums += P 1
#pragma unroll
        for (int j = 0; j < DV / 8; j += 2) {
            unsigned bb[4];
            frag_b2(bb, Vs, LDV, t * 16, j * 8, lane);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                MMA::run(o[mt][j], pa[mt][t], bb);
                MMA::run(o[mt][j + 1], pa[mt][t], bb + 2);
            }
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) MMA::run(sums[mt], pa[mt][t], ones);
    }
}
#endif

// Forward, one key tile (keys t0 .. t0 + 63 in Ks, Vs): S = Q K^T, online softmax, O += P V,
// for the warp's 16 query rows.
template <bool MASK = true>
__device__ __forceinline__ void fwd_tile(float (&o)[DV / 8][4], Rows& R, const elem* Qs, const elem* Ks, const elem* Vs, int t0, float sl2, int warp, int lane) {
    float sc[8][4];
    warp_abt<DQK, LDQ, LDQ>(sc, Qs, warp * 16, Ks, lane);
    online_softmax<MASK>(sc, R, o, t0, sl2, lane);
    warp_xb<DV, LDV>(o, sc, Vs, lane);  // O += P V
}

// Forward, the end: row sums across the 4 lanes of a row, normalise, write the part's output
// and log-sum-exp for the warp's rows r0 .. r0 + 15 of tile p0 (row indices from row_of(r)).
template <typename RowOf>
__device__ __forceinline__ void fwd_store(float (&o)[DV / 8][4], Rows& R, float* o_part, float* lse_part, i64 bh, int p0, int p_last, int r0, int lane, RowOf row_of) {
    const int g = lane >> 2, c2 = (lane & 3) * 2;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        R.l_run[i] += __shfl_xor_sync(0xffffffff, R.l_run[i], 1);
        R.l_run[i] += __shfl_xor_sync(0xffffffff, R.l_run[i], 2);
    }
    for (int i = 0; i < 2; ++i) {
        int r = r0 + g + 8 * i;
        if (p0 + r > p_last) continue;
        i64 base = bh + row_of(r);
        float inv = R.l_run[i] > 0.f ? 1.f / R.l_run[i] : 0.f;
        for (int j = 0; j < DV / 8; ++j) {
            float2 val = make_float2(o[j][2 * i] * inv, o[j][2 * i + 1] * inv);
            *(float2*)(o_part + base * DV + j * 8 + c2) = val;
        }
        if ((lane & 3) == 0) lse_part[base] = R.l_run[i] > 0.f ? (R.m_run[i] + log2f(R.l_run[i])) * LN2 : -INFINITY;
    }
}

// Backward dQ, one key tile: S = Q K^T, dP = dO V^T, dS = P (dP - D) with P = exp(S - lse)
// where allowed, dQ += dS K (scaled at the end).
__device__ __forceinline__ void dq_tile(float (&acc)[DQK / 8][4], const Rows& R, const elem* Qs, const elem* dOs, const elem* Ks, const elem* Vs, int t0, float sl2, int warp, int lane) {
    const int c2 = (lane & 3) * 2;
    float sc[8][4], dp[8][4];
    warp_abt<DQK, LDQ, LDQ>(sc, Qs, warp * 16, Ks, lane);   // S = Q K^T
    warp_abt<DV, LDV, LDV>(dp, dOs, warp * 16, Vs, lane);   // dP = dO V^T
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            int i = e >> 1, m = t0 + j * 8 + c2 + (e & 1);
            float p = (m >= R.lo[i] && m <= R.hi[i]) ? exp2_(sc[j][e] * sl2 - R.lse2[i]) : 0.f;
            sc[j][e] = p * (dp[j][e] - R.dd[i]);
        }
    }
    warp_xb<DQK, LDQ>(acc, sc, Ks, lane);  // dQ += dS K
}

// The visibility and statistics of the 64 queries of one tile, for the dK/dV kernel.
struct __align__(16) QueryTile {
    int lo[BQ], hi[BQ];
    float lse2[BQ], d[BQ];  // lse2: log-sum-exp times log2(e) (v6: not yet scaled, see query_tile_async)
};

// Backward dK, dV, one query tile: S^T = K Q^T, dP^T = V dO^T, P^T, dS^T = P^T (dP^T - D),
// dV += P^T dO, dK += dS^T Q (scaled at the end), for the warp's 16 keys. With `ds_out`, dS^T
// is also written there (a 64 x 64 shared tile, row = key, stride LDS) for the dQ product.
// MASK = false (v5): every query of the tile sees every key of the block; v5 also reads each
// thread's two neighbouring queries' statistics as one 8-byte load.
#define LDS (BQ + 8)
// S^T, dP^T (in place) -> P^T, dS^T = P^T (dP^T - D), unscaled (v19: both times the scale,
// by `lse_bias`): the elementwise middle of the dK/dV step, for the warp's 16 keys (my_key)
// and the tile's 64 queries (T).
template <bool MASK = true>
__device__ __forceinline__ void ds_from_scores(float (&st)[8][4], float (&dpt)[8][4], const int (&my_key)[2], const QueryTile& T, float sl2, int lane, float lse_bias = 0.f) {
    const int c2 = (lane & 3) * 2;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#if SA_VERSION >= 5
        const int q0 = j * 8 + c2;
#if SA_VERSION >= 6
        float2 lse2 = *(const float2*)&T.lse2[q0];  // v6 copies the natural-log lse as is (v31: lse2)
#if SA_VERSION >= 31
        (void)lse_bias;  // (v31: the row-dot launch scaled and biased it: `sa_rowdot_zero_lse`)
#elif SA_VERSION >= 19
        lse2.x = fmaf(lse2.x, LOG2E, lse_bias);  // (v19: P and dS come out times the scale)
        lse2.y = fmaf(lse2.y, LOG2E, lse_bias);
#else
        lse2.x *= LOG2E;
        lse2.y *= LOG2E;
#endif
#else
        const float2 lse2 = *(const float2*)&T.lse2[q0];
#endif
        const float2 dd = *(const float2*)&T.d[q0];
        int2 lo2 = make_int2(0, 0), hi2 = make_int2(0, 0);
        if (MASK) {
            lo2 = *(const int2*)&T.lo[q0];
            hi2 = *(const int2*)&T.hi[q0];
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const bool second = e & 1;
            const int m = my_key[e >> 1];
            bool ok = !MASK || (m >= (second ? lo2.y : lo2.x) && m <= (second ? hi2.y : hi2.x));
            float p = ok ? exp2_(st[j][e] * sl2 - (second ? lse2.y : lse2.x)) : 0.f;
            st[j][e] = p;
            dpt[j][e] = p * (dpt[j][e] - (second ? dd.y : dd.x));
        }
#else
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            int qi = j * 8 + c2 + (e & 1), m = my_key[e >> 1];
            bool ok = m >= T.lo[qi] && m <= T.hi[qi];
            float p = ok ? exp2_(st[j][e] * sl2 - T.lse2[qi]) : 0.f;
            st[j][e] = p;
            dpt[j][e] = p * (dpt[j][e] - T.d[qi]);
        }
#endif
    }
}

template <bool MASK = true>
__device__ __forceinline__ void dkdv_tile(float (&dka)[DQK / 8][4], float (&dva)[DV / 8][4], const int (&my_key)[2], const QueryTile& T, const elem* Ks, const elem* Vs, const elem* Qs, const elem* dOs, float sl2, int warp, int lane, elem* ds_out = nullptr, float lse_bias = 0.f) {
    const int c2 = (lane & 3) * 2;
    float st[8][4], dpt[8][4];
    warp_abt<DQK, LDQ, LDQ>(st, Ks, warp * 16, Qs, lane);   // S^T = K Q^T
    warp_abt<DV, LDV, LDV>(dpt, Vs, warp * 16, dOs, lane);  // dP^T = V dO^T
    ds_from_scores<MASK>(st, dpt, my_key, T, sl2, lane, lse_bias);
    warp_xb<DV, LDV>(dva, st, dOs, lane);   // dV += P^T dO
    warp_xb<DQK, LDQ>(dka, dpt, Qs, lane);  // dK += dS^T Q
    if (ds_out) {
        const int g = lane >> 2;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            *(unsigned*)(ds_out + (warp * 16 + g) * LDS + j * 8 + c2) = MMA::pack(dpt[j][0], dpt[j][1]);
            *(unsigned*)(ds_out + (warp * 16 + g + 8) * LDS + j * 8 + c2) = MMA::pack(dpt[j][2], dpt[j][3]);
        }
    }
}

// dst (a row of an fp32 gradient) += mult * this thread's part of accumulator row i.
template <int W>
__device__ __forceinline__ void add_row(float* dst, const float (&acc)[W / 8][4], int i, float mult, int lane) {
    const int c2 = (lane & 3) * 2;
    for (int j = 0; j < W / 8; ++j) {
        float2* d2 = (float2*)(dst + j * 8 + c2);
        float2 cur = *d2;
        cur.x += acc[j][2 * i] * mult;
        cur.y += acc[j][2 * i + 1] * mult;
        *d2 = cur;
    }
}

// Fills a query tile's visibility and statistics (threads r < 64).
__device__ __forceinline__ void query_tile(QueryTile& T, i64* qrows, const Part& P, int s, int t0, int qc, int off, i64 bh, const float* lse, const float* dsum) {
    for (int r = threadIdx.x; r < BQ; r += NTHREADS) {
        int p = t0 + r;
        bool ok = p < qc;
        i64 row = ok ? q_row(P, s, p) : -1;
        if (qrows) qrows[r] = row;
        T.lo[r] = ok ? lo_of(P, p) : 1;
        T.hi[r] = ok ? hi_of(P, p, off) : -1;
        T.lse2[r] = ok ? lse[bh + row] * LOG2E : 0.f;
        T.d[r] = ok ? dsum[bh + row] : 0.f;
    }
}

// The rows of keys t0 .. t0 + 63 of sequence s (-1 past the part's keys or the sequence).
__device__ __forceinline__ void key_rows(i64* krows, const Part& P, int s, int t0, int off) {
    for (int r = threadIdx.x; r < BK; r += NTHREADS) {
        int m = t0 + r;
        i64 row = m < P.k_len ? k_row(P, s, m, off) : -1;
        krows[r] = (row >= 0 && row < P.n) ? row : -1;
    }
}
