// sparse_attention_v3.cu: versions 3 to 13 of the fused sparse attention kernels (compiled
// with SA_VERSION=3..13, so fragments come through ldmatrix as in v2; the shared pieces are in
// sparse_attention_common.cuh and sparse_attention_steps.cuh). Version 4 is described at `dq_atomic` below, version 5 at
// `load_pair_async` (in sparse_attention_copy.cuh), version 6 (vector atomics for dQ; the
// forward's scale folded into the exponent's multiply-add; statistics copied asynchronously)
// in `dq_atomic`, `online_softmax` and `query_tile_async`, version 7 (two m-tiles per forward
// warp) at `FMT`, version 8 (less accumulator traffic) at `finish_row`, version 9 (parts
// merged in place) at `Final`, version 10 (heaviest tiles first) at `tile_of` in the common
// header, version 11 (short columns packed into one tile) at `lo_of` there, version 12
// (unpacked parts without v11's divisions; windowed parts in v9's launch order) at `lo_of` and
// `tile_of`, version 13 (packed row-dot and casts; more blocks for 32-wide heads; short parts
// on 64-row forward tiles) at `sa_rowdot_packed` and `NARROW_HEADS`.
//
// What v3 adds, the cp.async copies of the streamed tiles into two shared-memory stages, is in
// sparse_attention_copy.cuh (compiled just before this file).

// Blocks per SM the v7+ forward asks for (a -D override for experiments): 3 caps registers at
// 168 with a few spilled bytes; 2 spills nothing but measured 1-8% slower on the H200.
// Version 13: 32-wide heads need fewer registers, so their kernels ask for more blocks (the
// latency-bound ImageNet shape: 6% faster on the H200 with 4 / 6 / 4).
#define NARROW_HEADS (SA_VERSION >= 13 && DQK <= 32 && DV <= 32)
#ifndef FWD_V7_BLOCKS
#define FWD_V7_BLOCKS (NARROW_HEADS ? 4 : 3)
#endif
// Blocks per SM of the dK/dV kernel and of the 64-row forward: one fewer with 128-wide heads,
// whose accumulators would otherwise spill (overridable for experiments).
// Version 22: 3 for 32-wide heads too. At 4 their kernel had 128 registers and spilled in
// its loop; once v20 took the stalls out of the blocks' ends, 3 blocks without spills ran
// faster (H200, ImageNet 64: 0.599-0.621 -> 0.585 ms).
#ifndef DKDV_BLOCKS
#define DKDV_BLOCKS (DQK > 64 || DV > 64 ? 2 : NARROW_HEADS && SA_VERSION < 22 ? 4 : 3)
#endif
#ifndef NARROW_BLOCKS
#define NARROW_BLOCKS (DV > 64 ? 3 : NARROW_HEADS ? 6 : 4)
#endif
#if SA_VERSION >= 5
// (v7's forward with two m-tiles per warp asks for FWD_V7_BLOCKS.)
#define FWD_BOUNDS __launch_bounds__(NTHREADS, (SA_VERSION >= 7 ? FWD_V7_BLOCKS : DV > 64 ? 3 : 4))
#define DKDV_BOUNDS __launch_bounds__(NTHREADS, DKDV_BLOCKS)
#else
#define FWD_BOUNDS __launch_bounds__(NTHREADS)
#define DKDV_BOUNDS __launch_bounds__(NTHREADS)
#endif

#if SA_VERSION >= 4
// Version 4: dQ inside the dK/dV kernel, as FlashAttention-2 does. After a query tile's dK/dV
// step, the block's dS^T (64 keys x 64 queries, bf16/fp16 in shared memory) times K gives
// this key tile's contribution to the tile's dQ, which each warp adds for its 16 query rows
// with fp32 atomics. The dQ kernel, and its second computation of S and dP, go away; the sum
// order of dQ varies from run to run (reproducible to rounding, not bit for bit).

// A fragment (16 x 16) of the transpose of a shared tile: A[q][k] = tile[k0 + k][q0 + q].
__device__ __forceinline__ void frag_a_trans(unsigned a[4], const elem* tile, int ld, int q0, int k0, int lane) {
    int mi = lane >> 3;
    ldsm_x4_trans(a, tile + (k0 + (lane & 7) + (mi >> 1) * 8) * ld + q0 + (mi & 1) * 8);
}

// dq (fp32, global) += scale * acc, the warp's 16 rows of dS K for the query tile at t0.
// Profiling only (ST_SA_DEFINES=SA_PROFILE_SKIP_DQ_ADD=1): dQ tiles are not added, which
// shows what the reductions cost; dQ is then wrong.
#ifdef SA_PROFILE_SKIP_DQ_ADD
constexpr bool skip_dq_add = true;
#else
constexpr bool skip_dq_add = false;
#endif
__device__ __forceinline__ void dq_add(float* dq, const float (&acc)[DQK / 8][4], i64 bh, const Part& P, int s, int t0, int qc, float scale, int warp, int lane) {
    if (skip_dq_add) return;
    const int g = lane >> 2, c2 = (lane & 3) * 2;
#if SA_VERSION >= 6
    // v6: 16-byte vector reductions, a quarter of v4's atomic operations. Lanes 2k and 2k+1
    // hold columns c..c+1 and c+2..c+3 of rows g and g+8; they swap halves so that the even
    // lane owns row g, columns c..c+3, and the odd lane row g+8.
    const bool odd = lane & 1;
    const int p = t0 + warp * 16 + g + (odd ? 8 : 0);
    float* row = p < qc ? dq + (bh + q_row(P, s, p)) * DQK + (c2 & ~3) : nullptr;
#pragma unroll
    for (int j = 0; j < DQK / 8; ++j) {
        float sx = odd ? acc[j][0] : acc[j][2], sy = odd ? acc[j][1] : acc[j][3];
        float rx = __shfl_xor_sync(0xffffffff, sx, 1), ry = __shfl_xor_sync(0xffffffff, sy, 1);
        float4 v = odd ? make_float4(rx, ry, acc[j][2], acc[j][3]) : make_float4(acc[j][0], acc[j][1], rx, ry);
        if (row)
            asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(row + j * 8), "f"(v.x * scale), "f"(v.y * scale), "f"(v.z * scale), "f"(v.w * scale) : "memory");
    }
#else
    for (int i = 0; i < 2; ++i) {
        int p = t0 + warp * 16 + g + 8 * i;
        if (p >= qc) continue;
        float* row = dq + (bh + q_row(P, s, p)) * DQK;
        for (int j = 0; j < DQK / 8; ++j) {
            atomicAdd(row + j * 8 + c2, acc[j][2 * i] * scale);
            atomicAdd(row + j * 8 + c2 + 1, acc[j][2 * i + 1] * scale);
        }
    }
#endif
}

// dq (fp32, global) += scale * dS K for the warp's 16 queries of the tile at t0.
__device__ __forceinline__ void dq_atomic(float* dq, i64 bh, const Part& P, int s, int t0, int qc, const elem* dSs, const elem* Ks, float scale, int warp, int lane) {
    float acc[DQK / 8][4];
    zero(acc);
#pragma unroll
    for (int t = 0; t < 4; ++t) {
        unsigned a[4];
        frag_a_trans(a, dSs, LDS, warp * 16, t * 16, lane);
#pragma unroll
        for (int j = 0; j < DQK / 8; j += 2) {
            unsigned bb[4];
            frag_b2(bb, Ks, LDQ, t * 16, j * 8, lane);
            MMA::run(acc[j], a, bb);
            MMA::run(acc[j + 1], a, bb + 2);
        }
    }
    dq_add(dq, acc, bh, P, s, t0, qc, scale, warp, lane);
}
#endif

// The global row of key t0 + r of sequence s, or -1.
__device__ __forceinline__ i64 key_row_or_none(const Part& P, int s, int m, int off) {
    i64 row = m < P.k_len ? k_row(P, s, m, off) : -1;
    return (row >= 0 && row < P.n) ? row : -1;
}

// A run of tiles a block walks: `tiles` tiles from position `first`.
struct TileBand {
    int first, tiles;
};
// The key tiles a query tile (rows p0 .. p_last) walks: from the tile holding lo(p0) to the one
// holding hi(p_last).
__device__ __forceinline__ TileBand key_band(const Part& P, int p0, int p_last, int off) {
    const int m_lo = lo_of(P, p0), m_hi = hi_of(P, p_last, off);
    const int first = (m_lo / BK) * BK;
    return {first, m_hi >= first ? (m_hi - first) / BK + 1 : 0};
}
// The query tiles a key tile (keys m0 ..) walks: from the tile holding the first query that
// sees m0 to the end of the queries that can see the tile's last key.
__device__ __forceinline__ TileBand query_band(const Part& P, int m0, int off, int qc) {
    const int m_last = min(m0 + BK, P.k_len) - 1;
    const int p_first = first_query_seeing(P, m0, off, qc);
#if SA_VERSION >= 11
    // Queries see keys of their own segment only: none past the last key's segment.
    const int p_end = min(P.window > 0 ? min(qc, m_last + P.window) : qc, P.seg == INT_MAX ? qc : (QUOT(m_last, seg, 3) + 1) * P.seg);
#else
    const int p_end = P.window > 0 ? min(qc, m_last + P.window) : qc;
#endif
    const int first = (p_first / BQ) * BQ;
    return {first, p_end > first ? (p_end - first + BQ - 1) / BQ : 0};
}
// Whether every query of the tile at t0 exists and sees every key of the block at m0 (both
// bounds grow with the query): such a tile needs no masks.
__device__ __forceinline__ bool tile_sees_block(const Part& P, int t0, int qc, int m0, int off) {
    return t0 + BQ <= qc && lo_of(P, t0 + BQ - 1) <= m0 && hi_of(P, t0, off) >= m0 + BK - 1;
}
#if SA_VERSION >= 31
// Version 31: a dK/dV block's steps know a query tile is seen whole without working it out
// again each step (`tile_sees_block`, ~40 instructions a thread, and the tile's bounds in
// `query_tile_async`, as many again): in a part with no window and no segments every query
// sees keys from 0 up to hi(p), which never falls as p grows, so once a full tile sees the
// block whole, every later full tile does. `was`: the step before was whole.
struct WholeTiles {
    bool sticky, was;
    __device__ __forceinline__ bool next(const Part& P, int t0, int qc, int m0, int off) {
        was = (sticky && was && t0 + BQ <= qc) || tile_sees_block(P, t0, qc, m0, off);
        return was;
    }
    // whether the tile at t0, not yet reached, is known to be whole (its bounds not needed)
    __device__ __forceinline__ bool known(int t0, int qc) const { return sticky && was && t0 + BQ <= qc; }
};
__device__ __forceinline__ WholeTiles whole_tiles(const Part& P) { return WholeTiles{P.window == 0 && P.seg == INT_MAX, false}; }
#endif

// Queues the copy of keys and values t0 .. t0 + BK - 1 into stage i & 1 of Ks0 / Vs0 (SWZ:
// version 14's unpadded, swizzled wgmma tiles).
template <bool SWZ = false>
__device__ __forceinline__ void queue_keys(elem* Ks0, elem* Vs0, int i, const elem* kb, const elem* vb, i64 skt, i64 svt, const Part& P, int s, int t0, int off) {
    const int st = i & 1;
    auto krow = [&](int r) -> i64 { return key_row_or_none(P, s, t0 + r, off); };
#if SA_VERSION >= 5
    constexpr int LK = SWZ ? 64 : LDQ, LV = SWZ ? 64 : LDV;
    load_pair_async<DQK, LK, DV, LV, SWZ>(Ks0 + st * BK * LK, kb, skt, Vs0 + st * BK * LV, vb, svt, krow);
#else
    load_tile_async<DQK, LDQ>(Ks0 + st * BK * LDQ, kb, skt, krow);
    load_tile_async<DV, LDV>(Vs0 + st * BK * LDV, vb, svt, krow);
#endif
}

// ---------------------------------------------------------------- forward

// `fwd_tile` (sparse_attention_steps.cuh) for MT m-tiles per warp (rows r0 + 16 mt).
template <bool MASK, int MT>
__device__ __forceinline__ void fwd_tile_m(float (&o)[MT][DV / 8][4], Rows (&R)[MT], const elem* Qs, const elem* Ks, const elem* Vs, int t0, float sl2, int r0, int lane) {
    float sc[MT][8][4];
    warp_abt_m<MT, DQK, LDQ, LDQ>(sc, Qs, r0, Ks, lane);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) online_softmax<MASK>(sc[mt], R[mt], o[mt], t0, sl2, lane);
    warp_xb_m<MT, DV, LDV>(o, sc, Vs, lane);  // O += P V
}

#ifdef SA_WGMMA
// Version 14: `fwd_tile_m` on wgmma. The warpgroup computes MT 64-row halves of the query
// tile (warp w: rows 64 mt + 16 w), S = Q K^T from the swizzled shared tiles, then, after the
// online softmax, O += P V with P from registers.
// S = Q K^T for the MT 64-row halves, complete on return.
template <int MT>
__device__ __forceinline__ void wg_scores(float (&sc)[MT][8][4], const elem* Qs, const elem* Ks) {
    wg_fence();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) wg_abt(sc[mt], Qs + mt * 64 * 64, Ks);
    wg_commit();
    wg_wait<0>();
}
template <bool MASK, int MT>
__device__ __forceinline__ void fwd_tile_wg(float (&o)[MT][DV / 8][4], Rows (&R)[MT], const elem* Qs, const elem* Ks, const elem* Vs, int t0, float sl2, int lane) {
    float sc[MT][8][4];
    wg_scores(sc, Qs, Ks);
    unsigned pa[MT][4][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        wg_hold(sc[mt]);
        online_softmax<MASK>(sc[mt], R[mt], o[mt], t0, sl2, lane);
        pack_rows(pa[mt], sc[mt]);
    }
    wg_fence();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) wg_xb(o[mt], pa[mt], Vs);  // O += P V
    wg_commit();
    wg_wait<0>();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) wg_hold(o[mt]);
}
#if SA_VERSION >= 30
// Version 30: `fwd_tile_sums` on wgmma; the column of ones is a 1 KB shared tile (`ones`, n8
// products: `wg_sums`).
template <bool MASK, int MT>
__device__ __forceinline__ void fwd_tile_wg_sums(float (&o)[MT][DV / 8][4], float (&sums)[MT][4], Rows (&R)[MT], const elem* Qs, const elem* Ks, const elem* Vs, const elem* ones, int t0, float sl2, int lane) {
    float sc[MT][8][4];
    wg_scores(sc, Qs, Ks);
    unsigned pa[MT][4][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        wg_hold(sc[mt]);
        float alpha[2];
        if (softmax_packed<MASK>(sc[mt], R[mt], pa[mt], alpha, t0, sl2, lane)) rescale_with_sums(o[mt], sums[mt], alpha);
    }
    wg_fence();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        wg_xb(o[mt], pa[mt], Vs);  // O += P V
        wg_sums(sums[mt], pa[mt], ones);
    }
    wg_commit();
    wg_wait<0>();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        wg_hold(o[mt]);
        wg_hold4(sums[mt]);
    }
}
#endif
#endif

// Version 7: each warp of the forward owns FMT = 2 m-tiles (32 query rows, 128 per block) when
// both head widths are at most 64, so every K and V fragment read from shared memory feeds
// two tensor-core products (128-wide heads keep one m-tile: their accumulators would spill).
// The host mirrors this choice (`forward_rows` in kernels/src/cuda/sparse_attention.rs).
#if SA_VERSION >= 7 && DQK <= 64 && DV <= 64
#define FMT 2
#else
#define FMT 1
#endif

#ifdef SA_TMA  // (version 16's tensor maps: sparse_attention_tma.cuh)
#define NO_TILE_MAPS_ARG , nullptr, TileRows{1}
#else
#define TILE_MAPS
#define TILE_MAPS_ARG
#define TILE_MAPS_PARAM
#define NO_TILE_MAPS_ARG
#endif

// Version 21: the fixed pattern's own block after its summary keys, in one running softmax
// (`sa_forward_own_tma_wg`; the host's `own_block_after`): the own-block part, the map of its
// key and value rows and their rows per group. A merged pattern then needs neither the own
// block's launch nor the running output in fp32 between the two.
struct OwnBlocks {
#ifdef SA_TMA
    TileMaps maps;
#endif
    Part P;
    int e1;
};

// As v1: grid (query tiles of 64 MT rows, n_seq, B * heads). Shared: Q, then 2 stages of K,
// then of V. The block's rows end in `fwd_merge` (sparse_attention_ends.cuh). With OWN (v21,
// TMA only), the block then walks `own`'s key tiles of its rows' block.
// WG (version 14, `SA_WGMMA`): the tiles unpadded and swizzled, products on wgmma, and warp w
// owning rows 64 mt + 16 w (the warpgroup's m64 halves) instead of 16 (MT w + mt). From
// version 16 the key and value tiles of parts the host has maps for come by TMA (`SA_TMA`).
template <int MT, bool WG = false, bool TMA = false, bool OWN = false>
__device__ __forceinline__ void forward_tiles(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, const Part& P, int H, float scale FWD_FINAL TILE_MAPS_PARAM,
                                              const OwnBlocks* own = nullptr) {
    static_assert(!OWN || (TMA && MT == 1), "own blocks come by TMA, on 64-row tiles");
    constexpr int BQF = 64 * MT, LQK = WG ? 64 : LDQ, LV = WG ? 64 : LDV;
    extern __shared__ __align__(16) unsigned char smem_raw[];
#ifdef SA_WGMMA
    elem* Qs = WG ? aligned_tiles(smem_raw) : (elem*)smem_raw;
#else
    elem* Qs = (elem*)smem_raw;
#endif
    elem* Ks0 = Qs + BQF * LQK;
    elem* Vs0 = Ks0 + 2 * BK * LQK;
    const Tile t = tile_of(P, BQF);
    if (t.p0 >= t.qc) return;
    const int s = t.s, b = t.b, h = t.h, off = t.off, p0 = t.p0, p_last = t.p_last;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, r0 = warp * 16 * MT;
    auto rows_from = [&](int mt) { return WG ? 64 * mt + 16 * warp : r0 + 16 * mt; };
    const float sl2 = scale * LOG2E;
    const elem *qb = q + b * sq.b + h * sq.h, *kb = k + b * sk.b + h * sk.h, *vb = v + b * sv.b + h * sv.h;
    auto qrow = [&](int r) -> i64 { return p0 + r <= p_last ? q_row(P, s, p0 + r) : -1; };
    const TileBand kt = key_band(P, p0, p_last, off);
    const int first = kt.first, tiles = kt.tiles;
    // OWN: then `own`'s key tiles i - tiles, of the block s2 holding the tile's rows (its
    // queries p0 - s2 l .. p_last - s2 l there); none without OWN.
    const int l2 = OWN ? own->P.q_len : 1, s2 = OWN ? p0 / l2 : 0, q2 = p0 - s2 * l2, q2_last = p_last - s2 * l2, off2 = OWN ? off_of(own->P, h) : 0;
    const TileBand kt2 = OWN ? key_band(own->P, q2, q2_last, off2) : TileBand{0, 0};
#ifdef SA_TMA
    __shared__ u64 landed[2];  // stage st's tiles have landed (TMA)
    if (TMA && threadIdx.x == 0) tma_stages_init(landed);
#endif
    auto issue = [&](int i) {
#ifdef SA_TMA
        if constexpr (TMA) {
            const int st = i & 1;
            if (OWN && i >= tiles) {
                if (threadIdx.x == 0) tma_pair(own->maps, TileRows{own->e1}, Ks0 + st * BK * LQK, Vs0 + st * BK * LV, (int)k_row(own->P, s2, kt2.first + (i - tiles) * BK, off2), h, b, &landed[st]);
                return;
            }
            if (threadIdx.x == 0) tma_pair(*maps, rows, Ks0 + st * BK * LQK, Vs0 + st * BK * LV, (int)k_row(P, s, first + i * BK, off), h, b, &landed[st]);
            return;
        }
#endif
        queue_keys<WG>(Ks0, Vs0, i, kb, vb, sk.t, sv.t, P, s, first + i * BK, off);
    };
    Rows R[MT];
    float o[MT][DV / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        R[mt] = rows_of(P, s, p0, p_last, off, rows_from(mt), lane);
        zero(o[mt]);
    }
#if SA_VERSION >= 30
    float sums[MT][4];  // the rows' sums (version 30: `fwd_tile_sums`)
    zero(sums);
#ifdef SA_WGMMA
    // wgmma's column of ones, after the value stages (made visible to the tensor cores by the
    // proxy fence and barrier before the first tile)
    elem* ones = Vs0 + 2 * BK * LV;
    if (WG) {
        const unsigned one = MMA::pack(1.f, 1.f);
        ((uint2*)ones)[threadIdx.x] = make_uint2(one, one);
        static_assert(NTHREADS * 8 == 1024, "one 8-byte store a thread fills the 1 KB tile");
    }
#endif
#endif
    load_tile_async<DQK, LQK, BQF, WG>(Qs, qb, sq.t, qrow);
#if SA_VERSION >= 5
    // Every row of the tile sees keys t0 .. t0 + BK - 1 when the last row's lower bound and the
    // first row's upper bound enclose them (both bounds grow with the row).
    const int lo_last = lo_of(P, p_last), hi_first = hi_of(P, p0, off);
    pipelined<WG>(tiles + kt2.tiles, issue, [&](int i) {
        const bool second = OWN && i >= tiles;  // one of own's tiles
        const int t0 = second ? kt2.first + (i - tiles) * BK : first + i * BK;
        const elem *Ks = Ks0 + (i & 1) * BK * LQK, *Vs = Vs0 + (i & 1) * BK * LV;
        if (OWN && i == tiles) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {  // own's bounds from here on; the running sums stay
                const Rows R2 = rows_of(own->P, s2, q2, q2_last, off2, rows_from(mt), lane);
                R[mt].lo[0] = R2.lo[0], R[mt].lo[1] = R2.lo[1], R[mt].hi[0] = R2.hi[0], R[mt].hi[1] = R2.hi[1];
            }
        }
        const bool whole = second ? lo_of(own->P, q2_last) <= t0 && hi_of(own->P, q2, off2) >= t0 + BK - 1 : lo_last <= t0 && hi_first >= t0 + BK - 1;
#ifdef SA_TMA
        if (TMA) mbar_wait(&landed[i & 1], (i >> 1) & 1);
#endif
#if SA_VERSION >= 30
#ifdef SA_WGMMA
        if constexpr (WG) {
            if (whole) fwd_tile_wg_sums<false>(o, sums, R, Qs, Ks, Vs, ones, t0, sl2, lane);
            else fwd_tile_wg_sums<true>(o, sums, R, Qs, Ks, Vs, ones, t0, sl2, lane);
        } else
#endif
        {
            if (whole) fwd_tile_sums<false>(o, sums, R, Qs, Ks, Vs, t0, sl2, r0, lane);
            else fwd_tile_sums<true>(o, sums, R, Qs, Ks, Vs, t0, sl2, r0, lane);
        }
#else
#ifdef SA_WGMMA
        if constexpr (WG) {
            if (whole) fwd_tile_wg<false>(o, R, Qs, Ks, Vs, t0, sl2, lane);
            else fwd_tile_wg<true>(o, R, Qs, Ks, Vs, t0, sl2, lane);
        } else
#endif
        {
            if (whole) fwd_tile_m<false>(o, R, Qs, Ks, Vs, t0, sl2, r0, lane);
            else fwd_tile_m<true>(o, R, Qs, Ks, Vs, t0, sl2, r0, lane);
        }
#endif
    });
#if SA_VERSION >= 30
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) sums_to_rows(R[mt], sums[mt], lane);
#endif
#else
    pipelined(tiles, issue, [&](int i) { fwd_tile_m<true>(o, R, Qs, Ks0 + (i & 1) * BK * LDQ, Vs0 + (i & 1) * BK * LDV, first + i * BK, sl2, r0, lane); });
#endif
#if SA_VERSION >= 9
    if (!(F.mode & 1)) SA_AFTER_PREVIOUS_GRID();  // the running output of the parts before (version 29)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) fwd_merge(o[mt], R[mt], o_part, lse_part, F, (i64)(b * H + h) * P.n, b * F.so.b + h * F.so.h, p0, p_last, rows_from(mt), lane, qrow);
#else
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) fwd_store(o[mt], R[mt], o_part, lse_part, (i64)(b * H + h) * P.n, p0, p_last, rows_from(mt), lane, qrow);
#endif
}

extern "C" __global__ void FWD_BOUNDS sa_forward(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, Part P, int H, float scale FWD_FINAL) {
    forward_tiles<FMT>(q, k, v, sq, sk, sv, o_part, lse_part, P, H, scale FWD_FINAL_ARG NO_TILE_MAPS_ARG);
}

#if SA_VERSION >= 7
// One m-tile per warp (64-row query tiles) for the parts with a window (strided local), whose
// band is only a few key tiles wide: taller query tiles there mean more masked work.
extern "C" __global__ void __launch_bounds__(NTHREADS, NARROW_BLOCKS) sa_forward_narrow(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, Part P, int H, float scale FWD_FINAL) {
    forward_tiles<1>(q, k, v, sq, sk, sv, o_part, lse_part, P, H, scale FWD_FINAL_ARG NO_TILE_MAPS_ARG);
}
#endif

// ---------------------------------------------------------------- backward: dQ

// As v1. Shared: Q, dO, then 2 stages of K, then of V.
extern "C" __global__ void __launch_bounds__(NTHREADS) sa_backward_dq(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                                     const float* lse, const float* dsum, float* dq, Part P, int H, float scale) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    elem* Qs = (elem*)smem_raw;
    elem* dOs = Qs + BQ * LDQ;
    elem* Ks0 = dOs + BQ * LDV;
    elem* Vs0 = Ks0 + 2 * BK * LDQ;
    const Tile t = tile_of(P, BQ);
    if (t.p0 >= t.qc) return;
    const int s = t.s, b = t.b, h = t.h, off = t.off, p0 = t.p0, p_last = t.p_last;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2;
    const float sl2 = scale * LOG2E;
    const elem *kb = k + b * sk.b + h * sk.h, *vb = v + b * sv.b + h * sv.h;
    auto qrow = [&](int r) -> i64 { return p0 + r <= p_last ? q_row(P, s, p0 + r) : -1; };
    const TileBand kt = key_band(P, p0, p_last, off);
    const int first = kt.first, tiles = kt.tiles;
    auto issue = [&](int i) { queue_keys(Ks0, Vs0, i, kb, vb, sk.t, sv.t, P, s, first + i * BK, off); };
    const i64 bh = (i64)(b * H + h) * P.n;
    Rows R = rows_of(P, s, p0, p_last, off, warp * 16, lane);
    row_stats(R, P, t, bh, lse, dsum, warp, lane);
    float acc[DQK / 8][4];
    zero(acc);
    load_tile_async<DQK, LDQ>(Qs, q + b * sq.b + h * sq.h, sq.t, qrow);
    load_tile_async<DV, LDV>(dOs, dout + b * sd.b + h * sd.h, sd.t, qrow);
    pipelined(tiles, issue, [&](int i) { dq_tile(acc, R, Qs, dOs, Ks0 + (i & 1) * BK * LDQ, Vs0 + (i & 1) * BK * LDV, first + i * BK, sl2, warp, lane); });
    for (int i = 0; i < 2; ++i) {
        int r = warp * 16 + g + 8 * i;
        if (p0 + r <= p_last) add_row<DQK>(dq + (bh + qrow(r)) * DQK, acc, i, scale, lane);
    }
}

// ---------------------------------------------------------------- backward: dK, dV

// As v1. Shared: K, V, then 2 stages of Q, then of dO; the query statistics in 2 stages.
// Version 4 also adds this key tile's share of dQ (`dq`, fp32) with atomics; shared memory
// then ends with the 64 x 64 dS^T tile.

extern "C" __global__ void DKDV_BOUNDS sa_backward_dkdv(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                       const float* lse, const float* dsum, float* dk, float* dv, float* dq, Part P, int H, float scale DKDV_OUT) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    elem* Ks = (elem*)smem_raw;
    elem* Vs = Ks + BK * LDQ;
    elem* Qs0 = Vs + BK * LDV;
    elem* dOs0 = Qs0 + 2 * BQ * LDQ;
#if SA_VERSION >= 4
    elem* dSs = dOs0 + 2 * BQ * LDV;
#endif
    __shared__ QueryTile T[2];
    const Tile t = tile_of(P, BK, false);
    const int s = t.s, b = t.b, h = t.h, off = t.off, qc = t.qc, m0 = t.p0;
    if (m0 >= P.k_len) return;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2;
    const float sl2 = scale * LOG2E, lse_bias = LSE_BIAS(scale);
    const i64 bh = (i64)(b * H + h) * P.n;
    const elem *qb = q + b * sq.b + h * sq.h, *db = dout + b * sd.b + h * sd.h;
    auto krow = [&](int r) -> i64 { return key_row_or_none(P, s, m0 + r, off); };
#if SA_VERSION >= 19
    // v19: each key row's index once for both tiles (v5's `load_pair_async`), not once each.
    load_pair_async<DQK, LDQ, DV, LDV>(Ks, k + b * sk.b + h * sk.h, sk.t, Vs, v + b * sv.b + h * sv.h, sv.t, krow);
#else
    load_tile_async<DQK, LDQ>(Ks, k + b * sk.b + h * sk.h, sk.t, krow);
    load_tile_async<DV, LDV>(Vs, v + b * sv.b + h * sv.h, sv.t, krow);
#endif
    const TileBand qt = query_band(P, m0, off, qc);
    const int first = qt.first, tiles = qt.tiles;
#if SA_VERSION >= 31
    WholeTiles whole = whole_tiles(P);
#endif
    auto issue = [&](int i) {
        int t0 = first + i * BQ, st = i & 1;
        auto qrow = [&](int r) -> i64 { return t0 + r < qc ? q_row(P, s, t0 + r) : -1; };
#if SA_VERSION >= 6
#if SA_VERSION >= 31
        query_tile_async(T[st], P, s, t0, qc, off, bh, lse, dsum, !whole.known(t0, qc));
#else
        query_tile_async(T[st], P, s, t0, qc, off, bh, lse, dsum);
#endif
#else
        query_tile(T[st], nullptr, P, s, t0, qc, off, bh, lse, dsum);
#endif
#if SA_VERSION >= 5
        load_pair_async<DQK, LDQ, DV, LDV>(Qs0 + st * BQ * LDQ, qb, sq.t, dOs0 + st * BQ * LDV, db, sd.t, qrow);
#else
        load_tile_async<DQK, LDQ>(Qs0 + st * BQ * LDQ, qb, sq.t, qrow);
        load_tile_async<DV, LDV>(dOs0 + st * BQ * LDV, db, sd.t, qrow);
#endif
    };
    float dka[DQK / 8][4], dva[DV / 8][4];
    zero(dka);
    zero(dva);
    const int my_key[2] = {m0 + warp * 16 + g, m0 + warp * 16 + g + 8};
#if SA_VERSION >= 29
    if (!(mode & 32)) SA_AFTER_PREVIOUS_GRID();  // the row-dot's D (a later part: below)
#endif
#if SA_VERSION >= 5
    pipelined(tiles, issue, [&](int i) {
        const int t0 = first + i * BQ;
        const elem *Qs = Qs0 + (i & 1) * BQ * LDQ, *dOs = dOs0 + (i & 1) * BQ * LDV;
#if SA_VERSION >= 31
        if (whole.next(P, t0, qc, m0, off)) dkdv_tile<false>(dka, dva, my_key, T[i & 1], Ks, Vs, Qs, dOs, sl2, warp, lane, dSs, lse_bias);
#else
        if (tile_sees_block(P, t0, qc, m0, off)) dkdv_tile<false>(dka, dva, my_key, T[i & 1], Ks, Vs, Qs, dOs, sl2, warp, lane, dSs, lse_bias);
#endif
        else dkdv_tile<true>(dka, dva, my_key, T[i & 1], Ks, Vs, Qs, dOs, sl2, warp, lane, dSs, lse_bias);
        __syncthreads();  // every warp's dS^T rows are in dSs
        dq_atomic(dq, bh, P, s, t0, qc, dSs, Ks, DQ_SCALE(scale), warp, lane);
    });
#elif SA_VERSION >= 4
    pipelined(tiles, issue, [&](int i) {
        dkdv_tile(dka, dva, my_key, T[i & 1], Ks, Vs, Qs0 + (i & 1) * BQ * LDQ, dOs0 + (i & 1) * BQ * LDV, sl2, warp, lane, dSs);
        __syncthreads();  // every warp's dS^T rows are in dSs
        dq_atomic(dq, bh, P, s, first + i * BQ, qc, dSs, Ks, scale, warp, lane);
    });
#else
    (void)dq;
    pipelined(tiles, issue, [&](int i) { dkdv_tile(dka, dva, my_key, T[i & 1], Ks, Vs, Qs0 + (i & 1) * BQ * LDQ, dOs0 + (i & 1) * BQ * LDV, sl2, warp, lane); });
#endif
#if SA_VERSION >= 8
#if SA_VERSION >= 29
    if (mode & 32) SA_AFTER_PREVIOUS_GRID();  // the earlier parts' dK and dV rows
#endif
    end_key_block(dk, dv, dk_out, dv_out, dka, dva, bh, P, b, H, h, m0, krow, scale, warp, lane, mode END_S_ARG);
#else
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        i64 row = krow(warp * 16 + g + 8 * i);
        if (row < 0) continue;
        add_row<DQK>(dk + (bh + row) * DQK, dka, i, scale, lane);
        add_row<DV>(dv + (bh + row) * DV, dva, i, 1.f, lane);
    }
#endif
}
