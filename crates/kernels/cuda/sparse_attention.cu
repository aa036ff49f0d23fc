// sparse_attention.cu: versions 1 and 2 of the fused sparse attention kernels (the shared
// pieces are in sparse_attention_common.cuh and sparse_attention_steps.cuh, the description of
// the method in the former).
// v1 (SA_VERSION=1): every MMA fragment register loaded with its own shared-memory load;
// v2 (SA_VERSION=2): fragments loaded with ldmatrix. Both load each tile synchronously.

// ---------------------------------------------------------------- forward

// grid (query tiles, n_seq, B * heads); 4 warps, 16 query rows each.
// o_part: [B, H, n, DV] fp32, lse_part: [B, H, n] fp32 (natural log), rows this part covers.
extern "C" __global__ void __launch_bounds__(NTHREADS) sa_forward(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv,
                                                                 float* o_part, float* lse_part, Part P, int H, float scale) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    elem* Qs = (elem*)smem_raw;
    elem* Ks = Qs + BQ * LDQ;
    elem* Vs = Ks + BK * LDQ;
    __shared__ i64 qrows[BQ], krows[BK];
    const Tile t = tile_of(P, BQ);
    if (t.p0 >= t.qc) return;
    const int s = t.s, b = t.b, h = t.h, off = t.off, p0 = t.p0, p_last = t.p_last;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const float sl2 = scale * LOG2E;
    for (int r = threadIdx.x; r < BQ; r += NTHREADS) qrows[r] = (p0 + r <= p_last) ? q_row(P, s, p0 + r) : -1;
    __syncthreads();
    load_tile<DQK, LDQ>(Qs, q + b * sq.b + h * sq.h, qrows, sq.t);
    Rows R = rows_of(P, s, p0, p_last, off, warp * 16, lane);
    float o[DV / 8][4];
    zero(o);
    const int m_lo = lo_of(P, p0), m_hi = hi_of(P, p_last, off);
    for (int t0 = (m_lo / BK) * BK; t0 <= m_hi; t0 += BK) {
        __syncthreads();  // the previous tile is no longer read
        key_rows(krows, P, s, t0, off);
        __syncthreads();
        load_tile<DQK, LDQ>(Ks, k + b * sk.b + h * sk.h, krows, sk.t);
        load_tile<DV, LDV>(Vs, v + b * sv.b + h * sv.h, krows, sv.t);
        __syncthreads();
        fwd_tile(o, R, Qs, Ks, Vs, t0, sl2, warp, lane);
    }
    fwd_store(o, R, o_part, lse_part, (i64)(b * H + h) * P.n, p0, p_last, warp * 16, lane, [&](int r) { return qrows[r]; });
}

// ---------------------------------------------------------------- backward: dQ

// grid as sa_forward. dq: [B, H, n, DQK] fp32, accumulated (+=).
extern "C" __global__ void __launch_bounds__(NTHREADS) sa_backward_dq(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                                     const float* lse, const float* dsum, float* dq, Part P, int H, float scale) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    elem* Qs = (elem*)smem_raw;
    elem* dOs = Qs + BQ * LDQ;
    elem* Ks = dOs + BQ * LDV;
    elem* Vs = Ks + BK * LDQ;
    __shared__ i64 qrows[BQ], krows[BK];
    const Tile t = tile_of(P, BQ);
    if (t.p0 >= t.qc) return;
    const int s = t.s, b = t.b, h = t.h, off = t.off, p0 = t.p0, p_last = t.p_last;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2;
    const float sl2 = scale * LOG2E;
    for (int r = threadIdx.x; r < BQ; r += NTHREADS) qrows[r] = (p0 + r <= p_last) ? q_row(P, s, p0 + r) : -1;
    __syncthreads();
    load_tile<DQK, LDQ>(Qs, q + b * sq.b + h * sq.h, qrows, sq.t);
    load_tile<DV, LDV>(dOs, dout + b * sd.b + h * sd.h, qrows, sd.t);
    const i64 bh = (i64)(b * H + h) * P.n;
    Rows R = rows_of(P, s, p0, p_last, off, warp * 16, lane);
    row_stats(R, P, t, bh, lse, dsum, warp, lane);
    float acc[DQK / 8][4];
    zero(acc);
    const int m_lo = lo_of(P, p0), m_hi = hi_of(P, p_last, off);
    for (int t0 = (m_lo / BK) * BK; t0 <= m_hi; t0 += BK) {
        __syncthreads();
        key_rows(krows, P, s, t0, off);
        __syncthreads();
        load_tile<DQK, LDQ>(Ks, k + b * sk.b + h * sk.h, krows, sk.t);
        load_tile<DV, LDV>(Vs, v + b * sv.b + h * sv.h, krows, sv.t);
        __syncthreads();
        dq_tile(acc, R, Qs, dOs, Ks, Vs, t0, sl2, warp, lane);
    }
    for (int i = 0; i < 2; ++i) {
        int r = warp * 16 + g + 8 * i;
        if (p0 + r <= p_last) add_row<DQK>(dq + (bh + qrows[r]) * DQK, acc, i, scale, lane);
    }
}

// ---------------------------------------------------------------- backward: dK, dV

// grid (key tiles, n_seq, B * heads); 4 warps, 16 keys each. dk: [B, H, n, DQK], dv: [B, H,
// n, DV], fp32, accumulated (+=).
extern "C" __global__ void __launch_bounds__(NTHREADS) sa_backward_dkdv(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                                       const float* lse, const float* dsum, float* dk, float* dv, Part P, int H, float scale) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    elem* Ks = (elem*)smem_raw;
    elem* Vs = Ks + BK * LDQ;
    elem* Qs = Vs + BK * LDV;
    elem* dOs = Qs + BQ * LDQ;
    __shared__ i64 qrows[BQ], krows[BK];
    __shared__ QueryTile T;
    const Tile t = tile_of(P, BK);
    const int s = t.s, b = t.b, h = t.h, off = t.off, qc = t.qc, m0 = t.p0;
    if (m0 >= P.k_len) return;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2;
    const float sl2 = scale * LOG2E;
    const i64 bh = (i64)(b * H + h) * P.n;
    key_rows(krows, P, s, m0, off);
    __syncthreads();
    load_tile<DQK, LDQ>(Ks, k + b * sk.b + h * sk.h, krows, sk.t);
    load_tile<DV, LDV>(Vs, v + b * sv.b + h * sv.h, krows, sv.t);
    float dka[DQK / 8][4], dva[DV / 8][4];
    zero(dka);
    zero(dva);
    // Queries that see any key of this tile.
    const int m_last = min(m0 + BK, P.k_len) - 1;
    const int p_first = first_query_seeing(P, m0, off, qc);
    const int p_end = P.window > 0 ? min(qc, m_last + P.window) : qc;
    const int my_key[2] = {m0 + warp * 16 + g, m0 + warp * 16 + g + 8};
    for (int t0 = (p_first / BQ) * BQ; t0 < p_end; t0 += BQ) {
        __syncthreads();
        query_tile(T, qrows, P, s, t0, qc, off, bh, lse, dsum);
        __syncthreads();
        load_tile<DQK, LDQ>(Qs, q + b * sq.b + h * sq.h, qrows, sq.t);
        load_tile<DV, LDV>(dOs, dout + b * sd.b + h * sd.h, qrows, sd.t);
        __syncthreads();
        dkdv_tile(dka, dva, my_key, T, Ks, Vs, Qs, dOs, sl2, warp, lane);
    }
    for (int i = 0; i < 2; ++i) {
        i64 row = krows[warp * 16 + g + 8 * i];
        if (row < 0) continue;
        add_row<DQK>(dk + (bh + row) * DQK, dka, i, scale, lane);
        add_row<DV>(dv + (bh + row) * DV, dva, i, 1.f, lane);
    }
}
