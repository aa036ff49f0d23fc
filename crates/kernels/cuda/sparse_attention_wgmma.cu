// sparse_attention_wgmma.cu: the kernels of versions 14 and later (Hopper's wgmma; primitives and
// the reasons in sparse_attention_wgmma.cuh): the dK/dV kernel (v15: its dQ tiles added by
// tensor reductions, `dq_add_tensor`; v16: its query tiles by TMA, sparse_attention_tma.cuh),
// the forward entry points (their body is `forward_tiles` of the v3 file, on its wgmma path;
// v16: `_tma` variants) and a check of the operand layouts.

#ifdef SA_WGMMA

// stage[at(r, col)] = scale * acc, the warpgroup's 64 x 64 accumulator in fp32 (each thread
// writes columns c2, c2 + 1 of each 8-column group of rows r and r + 8).
template <typename At>
__device__ __forceinline__ void stage_dq(float* stage, const float (&acc)[8][4], float scale, int warp, int lane, At at) {
    const int r = warp * 16 + (lane >> 2), c2 = (lane & 3) * 2;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        *(float2*)(stage + at(r, j * 8 + c2)) = make_float2(acc[j][0] * scale, acc[j][1] * scale);
        *(float2*)(stage + at(r + 8, j * 8 + c2)) = make_float2(acc[j][2] * scale, acc[j][3] * scale);
    }
}
// dq_rows[0 .. 64 x 64) += scale * acc (64 consecutive rows of dQ, the warpgroup's 64 x 64
// accumulator), staged as fp32 in `stage` (16 KB of shared memory free until the block's next
// barrier) and added by one bulk reduction rather than 1,024 vector atomics.
__device__ __forceinline__ void dq_add_bulk(float* dq_rows, float* stage, const float (&acc)[8][4], float scale, int warp, int lane) {
    stage_dq(stage, acc, scale, warp, lane, [](int r, int col) { return r * 64 + col; });
    fence_async_shared();
    __syncthreads();
    if (threadIdx.x == 0) bulk_add_f32(dq_rows, stage, 64 * 64 * 4);
}

#if SA_VERSION >= 15
// Version 15: `dq_add_bulk` without bank conflicts. Its staging stores, each writing two
// columns of 8 rows 256 bytes apart, fall 8 to a bank (8 shared-memory wavefronts a store
// where 2 would do; H200 profile, dense: 2.3e8 conflicts, 0.8e8 left here). Here the tile is
// staged as two 64 x 32 boxes, rows of 128 bytes, 16-byte chunk c of row r at chunk c ^ (r %
// 8): the 128-byte swizzle, which the tensor memory accelerator undoes while adding each box
// to dQ (a 2-D tensor map of dQ as [B H n rows, 64] fp32 with 64 x 32 boxes: `dq_tensor_map`
// on the host). H200: dense 9.15 -> 8.65 ms, enwik8 3.19 -> 3.10.
// (Measured and dropped: each warp staging and adding its own 16 rows, without the block
// barrier: dense 8.92 ms, its warps waiting on their own reductions instead; and, with the
// buffer of its own below, two barriers a tile, the reduction issued after the next tile's
// first barrier: dense 8.21 against 8.12.)
__device__ __forceinline__ int dq_staged_at(int r, int col) { return (col >> 5) * 2048 + r * 32 + ((((col & 31) >> 2) ^ (r & 7)) << 2) + (col & 3); }
// dQ rows row0 .. row0 + 63 += scale * acc (the warpgroup's accumulator), staged in `stage`
// (16 KB, 1024-byte aligned, its own: thread 0 leaves the reductions running and waits for
// their reads only before the block's next writes of the stage, a tile later).
// Profiling knobs (ST_SA_DEFINES=NAME=1; dQ is then wrong), each leaving out one piece of
// the dQ path: SA_PROFILE_NO_DQ_STAGE (the staging stores), _NO_DQ_FENCE (the proxy fence),
// _NO_DQ_TMA (the reductions), _HALF_DQ_ADD (the second box's reduction), _NO_DQ_WAIT (thread
// 0's wait for the reductions' reads); what they showed is in benches/RESULTS.md (seventh
// session). SA_DQ_ATOMICS=1 adds every tile by vector atomics instead (measured, slower).
__device__ __forceinline__ void dq_add_tensor(const TensorMap& dq_map, int row0, float* stage, const float (&acc)[8][4], float scale, int warp, int lane) {
#ifndef SA_PROFILE_NO_DQ_STAGE
    stage_dq(stage, acc, scale, warp, lane, dq_staged_at);
#endif
#ifndef SA_PROFILE_NO_DQ_FENCE
    fence_async_shared();
#endif
    __syncthreads();
#ifdef SA_PROFILE_NO_DQ_TMA
    if (false) {
#else
    if (threadIdx.x == 0) {
#endif
        tensor_add_f32(dq_map, 0, row0, stage);
#ifndef SA_PROFILE_HALF_DQ_ADD
        tensor_add_f32(dq_map, 32, row0, stage + 2048);
#endif
        bulk_commit();
    }
}
#if SA_VERSION >= 25
// Version 25: the dQ tile staged row-major, as it lies in dQ (64 consecutive rows, 16 KB), and
// added by ONE bulk reduction instead of version 15's two tensor reductions of 64 x 32 boxes.
// Profiling knobs showed what the dQ path costs (H200, enwik8, v24): 1.89 ms, 1.56 without it,
// 1.66-1.67 with only its barrier (and fence); the staging stores alone or the reductions alone each
// cost about 0.16 ms, but halving the reductions' bytes gained only 0.05: their number counts,
// not their size. The stores stay free of bank conflicts by rotating the column blocks: at step
// j the lane of row g writes 8-column block j ^ (g % 4), so the four rows of a 16-lane phase fall
// in four different 32-byte bank groups (selects pick acc[j ^ rot] without run-time indexing,
// which would put the accumulator in local memory). H200, same call: enwik8 1.896 / 1.901 ->
// 1.862 / 1.844 ms, dense 6.51 / 6.49 -> 6.36 / 6.36.
__device__ __forceinline__ void dq_add_rows(float* dq_rows, float* stage, const float (&acc)[8][4], float scale, int warp, int lane) {
    const int g = lane >> 2, c2 = (lane & 3) * 2, rot = g & 3, r = warp * 16 + g;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        float v[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const float x = (rot & 1) ? acc[j ^ 1][e] : acc[j][e], y = (rot & 1) ? acc[j ^ 3][e] : acc[j ^ 2][e];
            v[e] = ((rot & 2) ? y : x) * scale;
        }
        const int jj = j ^ rot;
        *(float2*)(stage + r * 64 + jj * 8 + c2) = make_float2(v[0], v[1]);
        *(float2*)(stage + (r + 8) * 64 + jj * 8 + c2) = make_float2(v[2], v[3]);
    }
    fence_async_shared();
    __syncthreads();
    if (threadIdx.x == 0) {
        bulk_reduce_f32(dq_rows, stage, 64 * 64 * 4);
        bulk_commit();
    }
}
#endif
#define DQ_MAP , const __grid_constant__ TensorMap dq_map
#define DQ_MAP_PARAM , const TensorMap& dq_map
#define DQ_MAP_ARG , dq_map
#else
#define DQ_MAP
#define DQ_MAP_PARAM
#define DQ_MAP_ARG
#endif

#if SA_VERSION >= 35
// Version 35: version 31's knowledge of whole tiles (`WholeTiles`, sparse_attention_v3.cu) for
// the pair kernel below, which walks its query tiles from the top down: in such a part the
// full tiles that see the block whole are the full ones from the first that does, found once
// before the walk (past the diagonal's tile or two).
struct WholeFrom {
    int from;  // the first query tile seen whole (INT_MAX: none known)
    __device__ __forceinline__ bool known(int t0, int qc) const { return t0 >= from && t0 + BQ <= qc; }
    __device__ __forceinline__ bool next(const Part& P, int t0, int qc, int m0, int off) const { return known(t0, qc) || tile_sees_block(P, t0, qc, m0, off); }
};
__device__ __forceinline__ WholeFrom whole_from(const Part& P, int first, int end, int qc, int m0, int off) {
    if (P.window != 0 || P.seg != INT_MAX) return WholeFrom{INT_MAX};
    int t0 = first;
    while (t0 < end && !tile_sees_block(P, t0, qc, m0, off)) t0 += BQ;
    return WholeFrom{t0};
}
// Either walk's knowledge: `WholeTiles` walking up (DOWN false), `WholeFrom` walking down.
template <bool DOWN>
struct WholeWalk {
    WholeTiles up;
    WholeFrom down;
    // (`one_key_tile`: a block of one key tile, at m0, knows its whole tiles; a block of two
    // tests every step)
    __device__ __forceinline__ WholeWalk(bool one_key_tile, const Part& P, int first, int end, int qc, int m0, int off)
        : up(one_key_tile ? whole_tiles(P) : WholeTiles{false, false}),
          down(DOWN && one_key_tile ? whole_from(P, first, end, qc, m0, off) : WholeFrom{INT_MAX}) {}
    __device__ __forceinline__ WholeWalk() : up{false, false}, down{INT_MAX} {}
    __device__ __forceinline__ bool known(int t0, int qc) const { return DOWN ? down.known(t0, qc) : up.known(t0, qc); }
    __device__ __forceinline__ bool next(const Part& P, int t0, int qc, int m0, int off) { return DOWN ? down.next(P, t0, qc, m0, off) : up.next(P, t0, qc, m0, off); }
};
#endif

// dK, dV (and dQ by atomics) for one key tile, as `sa_backward_dkdv` of v8+ computes them:
// per query tile, S^T = K Q^T and dP^T = V dO^T (two chains of 4 wgmma), P^T and dS^T by
// `ds_from_scores`, dV += P^T dO and dK += dS^T Q (A from registers), dS^T to shared memory,
// dQ = dS K (A = dS^T read transposed), added to global dQ: by one bulk reduction when the
// tile's queries are one run of rows (H200: enwik8 3.29 -> 3.20 ms), else by vector atomics.
// Version 16 (TMA): the query and output-gradient tiles of parts the host has maps for come by
// the tensor memory accelerator (`sa_backward_dkdv_tma_wg`), the others as before.
// Version 27: KT = 2 key tiles a block, each step computing both against the query tile and
// adding one dQ tile for the two (`sa_backward_dkdv_tma2_wg`).
template <bool TMA, bool PAIRS = false, int KT = 1>
__device__ __forceinline__ void dkdv_wg(const Tile t, const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                        const float* lse, const float* dsum, float* dk, float* dv, float* dq, const Part& P, int H, float scale DKDV_OUT DQ_MAP_PARAM TILE_MAPS_PARAM) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    // 64 x 64 tiles: K and V (KT each), Q x 2, dO x 2, dS^T (KT), then (v15) the dQ tile
    elem* Ks = aligned_tiles(smem_raw);
    elem* Vs = Ks + KT * 64 * 64;
    elem* Qs0 = Vs + KT * 64 * 64;  // stage st: Q at Qs0 + 2 st 64 x 64, dO right after it
    elem* dOs0 = Qs0 + 64 * 64;
    elem* dSs = Qs0 + 4 * 64 * 64;
    __shared__ QueryTile T[2];
    const int s = t.s, b = t.b, h = t.h, off = t.off, qc = t.qc, m0 = t.p0;
    if (m0 >= P.k_len) return;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c2 = (lane & 3) * 2;
    const float sl2 = scale * LOG2E, lse_bias = LSE_BIAS(scale);
    const i64 bh = (i64)(b * H + h) * P.n;
    const elem *qb = q + b * sq.b + h * sq.h, *db = dout + b * sd.b + h * sd.h;
    auto krow = [&](int r) -> i64 { return key_row_or_none(P, s, m0 + r, off); };
#pragma unroll
    for (int hf = 0; hf < KT; ++hf) {
        load_tile_async<64, 64, 64, true>(Ks + hf * 64 * 64, k + b * sk.b + h * sk.h, sk.t, [&](int r) { return krow(hf * 64 + r); });
        load_tile_async<64, 64, 64, true>(Vs + hf * 64 * 64, v + b * sv.b + h * sv.h, sv.t, [&](int r) { return krow(hf * 64 + r); });
    }
    // The block walks the union of the query tiles that see its key tiles (64 keys at m0 + 64
    // hf); a key tile's step outside its own band is masked whole (computed, its dS zero: a
    // branch around the products would make ptxas serialise them).
    int first = INT_MAX, end = 0;
#pragma unroll
    for (int hf = 0; hf < KT; ++hf) {
        const TileBand qt = m0 + hf * 64 < P.k_len ? query_band(P, m0 + hf * 64, off, qc) : TileBand{0, 0};
        if (qt.tiles > 0) first = min(first, qt.first), end = max(end, qt.first + qt.tiles * BQ);
    }
    const int tiles = end > first ? (end - first) / BQ : 0;
#if SA_VERSION >= 35
    // Version 35, the merged fixed pattern's pair kernel (PAIRS): step i works the query tile i
    // steps from the top of the band, walking down. The blocks of one head that start together
    // (the grid's first index is batch x heads) then read the same Q and dO tiles and add to
    // the same dQ tile at about the same time. Walking up, the summary part's block of key tile
    // s started at its own diagonal, 4 query tiles behind the block of tile s + 1, and the
    // tiles they shared had left L2 (100 MB of fp32 dQ and 100 MB of Q and dO in flight)
    // before the second block came to them: H100, the pair kernel read 2.38 GB from DRAM, down
    // here 1.25 GB, 1.80 -> 1.41 ms. The other dK/dV launches walk up: walking down, dense
    // causal took 5.41 ms against 5.08-5.27 and audio 1.571 against 1.555.
    constexpr bool DOWN = PAIRS;
    // (the knowledge of whole tiles for blocks of one key tile only, as in version 31, below)
    WholeWalk<DOWN> whole[KT];
#pragma unroll
    for (int hf = 0; hf < KT; ++hf) whole[hf] = WholeWalk<DOWN>(KT == 1, P, first, end, qc, m0 + hf * 64, off);
#else
    constexpr bool DOWN = false;
#if SA_VERSION >= 31
    // (version 31; not with two key tiles, whose kernel, at 255 registers, then spilled in its
    // loop: H200, n = 1,048,576's column part 6.64 -> 7.81 ms)
    WholeTiles whole[KT];
#pragma unroll
    for (int hf = 0; hf < KT; ++hf) whole[hf] = KT == 1 ? whole_tiles(P) : WholeTiles{false, false};
#endif
#endif
    auto t0_of = [&](int i) { return DOWN ? first + (tiles - 1 - i) * BQ : first + i * BQ; };
#if SA_VERSION >= 31
    auto known_whole = [&](int t0) {
        bool all = true;
#pragma unroll
        for (int hf = 0; hf < KT; ++hf) all = all && whole[hf].known(t0, qc);
        return all;
    };
#endif
#ifdef SA_TMA
    __shared__ u64 landed[2];  // stage st's Q and dO tiles have landed (TMA)
    if (TMA && threadIdx.x == 0) tma_stages_init(landed);
    // Thread 0: query tile i's Q and dO by TMA. Version 28 (`LATE`) queues tile i + 1 from
    // inside step i, once the step's first products are queued, so that its arithmetic runs
    // under them; before, it did so ahead of the barrier that opened each step, and the other
    // three warps waited there for it (`pipelined_ahead` drops that barrier).
    constexpr bool LATE = TMA && SA_VERSION >= 28;
    auto issue_qdo = [&](int i) {
        const int t0 = t0_of(i), st = i & 1;
        tma_pair(*maps, rows, Qs0 + st * 2 * 64 * 64, dOs0 + st * 2 * 64 * 64, (int)q_row(P, s, t0), h, b, &landed[st]);
    };
#endif
    auto issue = [&](int i) {
        const int t0 = t0_of(i), st = i & 1;
        auto qrow = [&](int r) -> i64 { return t0 + r < qc ? q_row(P, s, t0 + r) : -1; };
#if SA_VERSION >= 31
        query_tile_async(T[st], P, s, t0, qc, off, bh, lse, dsum, !known_whole(t0));
#else
        query_tile_async(T[st], P, s, t0, qc, off, bh, lse, dsum);
#endif
#ifdef SA_TMA
        if constexpr (TMA) {
            if (threadIdx.x == 0 && (!LATE || i == 0)) issue_qdo(i);
            return;
        }
#endif
        load_pair_async<64, 64, 64, 64, true>(Qs0 + st * 2 * 64 * 64, qb, sq.t, dOs0 + st * 2 * 64 * 64, db, sd.t, qrow);
    };
    float dka[KT][8][4], dva[KT][8][4];
    int my_key[KT][2];
#pragma unroll
    for (int hf = 0; hf < KT; ++hf) {
        zero(dka[hf]);
        zero(dva[hf]);
        my_key[hf][0] = m0 + hf * 64 + warp * 16 + g;
        my_key[hf][1] = my_key[hf][0] + 8;
    }
#if SA_VERSION >= 15
    float* staged = (float*)(dSs + KT * 64 * 64);  // the dQ tile's own 16 KB
#endif
    auto step = [&](int i) {
        const int t0 = t0_of(i);
        const elem *Qs = Qs0 + (i & 1) * 2 * 64 * 64, *dOs = dOs0 + (i & 1) * 2 * 64 * 64;
#ifdef SA_TMA
        if (TMA) mbar_wait(&landed[i & 1], (i >> 1) & 1);
#endif
#pragma unroll
        for (int hf = 0; hf < KT; ++hf) {
            const elem *Kh = Ks + hf * 64 * 64, *Vh = Vs + hf * 64 * 64;
            float st[8][4], dpt[8][4];
            wg_fence();
            wg_abt(st, Kh, Qs);    // S^T = K Q^T
            wg_abt(dpt, Vh, dOs);  // dP^T = V dO^T
            wg_commit();
#ifdef SA_TMA
            if (LATE && hf == 0 && threadIdx.x == 0 && i + 1 < tiles) issue_qdo(i + 1);
#endif
            wg_wait<0>();
            wg_hold(st);
            wg_hold(dpt);
#if SA_VERSION >= 31
            if (whole[hf].next(P, t0, qc, m0 + hf * 64, off)) ds_from_scores<false>(st, dpt, my_key[hf], T[i & 1], sl2, lane, lse_bias);
#else
            if (tile_sees_block(P, t0, qc, m0 + hf * 64, off)) ds_from_scores<false>(st, dpt, my_key[hf], T[i & 1], sl2, lane, lse_bias);
#endif
            else ds_from_scores<true>(st, dpt, my_key[hf], T[i & 1], sl2, lane, lse_bias);
            unsigned pa[4][4], ds[4][4];
            pack_rows(pa, st);
            pack_rows(ds, dpt);
            wg_fence();
            wg_xb(dva[hf], pa, dOs);  // dV += P^T dO
            wg_xb(dka[hf], ds, Qs);   // dK += dS^T Q
            wg_commit();
            // dS^T (row = key, column = query) to shared memory while those run: fragment k holds
            // columns 16k + c2 (+ 8) of rows r and r + 8.
            elem* dSh = dSs + hf * 64 * 64;
#if SA_VERSION >= 26
            // Version 26: one `stmatrix` per fragment (four 8 x 8 matrices, register i of each
            // lane holding matrix i in the mma layout) instead of four 32-bit stores; lanes 8i ..
            // 8i + 7 address the rows of matrix i: rows (i & 1) 8 .. + 7, 16-byte vector 2k + i / 2.
            {
                const int mat = lane >> 3, row = warp * 16 + (lane & 7) + (mat & 1) * 8;
#pragma unroll
                for (int k = 0; k < 4; ++k) stsm_x4(dSh + tile_offset<64, true>(row, 2 * k + (mat >> 1)), ds[k]);
            }
#else
            const int r = warp * 16 + g;
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                *(unsigned*)(dSh + tile_offset<64, true>(r, 2 * k) + c2) = ds[k][0];
                *(unsigned*)(dSh + tile_offset<64, true>(r + 8, 2 * k) + c2) = ds[k][1];
                *(unsigned*)(dSh + tile_offset<64, true>(r, 2 * k + 1) + c2) = ds[k][2];
                *(unsigned*)(dSh + tile_offset<64, true>(r + 8, 2 * k + 1) + c2) = ds[k][3];
            }
#endif
            if (KT > 1) {  // (pa and ds are the next key tile's registers)
                wg_wait<0>();
                wg_hold(dva[hf]);
                wg_hold(dka[hf]);
            }
        }
        fence_async_shared();
#if SA_VERSION >= 15
#ifndef SA_PROFILE_NO_DQ_WAIT
        if (threadIdx.x == 0) bulk_wait_read();  // the last tile's dQ reductions have read `staged`
#endif
#endif
        __syncthreads();  // every warp's dS^T rows are in dSs
#ifdef SA_TMA
        if (LATE) cp_wait<0>();  // the next tile's statistics, for the step's last barrier (v28)
#endif
        if (KT == 1) {
            wg_wait<0>();
            wg_hold(dva[0]);
            wg_hold(dka[0]);
        }
        float dqa[8][4];
        wg_fence();
#pragma unroll
        for (int hf = 0; hf < KT; ++hf) wg_atb(dqa, dSs + hf * 64 * 64, Ks + hf * 64 * 64, hf > 0);  // dQ (+)= dS K
        wg_commit();
        wg_wait<0>();
        wg_hold(dqa);
        // A tile of 64 consecutive queries (none missing) is one run of dQ rows: one bulk
        // reduction (v14: staged in this stage's Q and dO tiles, read for the last time above).
#ifdef SA_DQ_ATOMICS
        const bool bulk = false;
#else
        const bool bulk = !skip_dq_add && t0 + BQ <= qc && P.q_step == 1 && P.q_group == INT_MAX;
#endif
#if SA_VERSION >= 15
        if (bulk) {
#if SA_VERSION >= 25
            dq_add_rows(dq + (bh + q_row(P, s, t0)) * DQK, staged, dqa, DQ_SCALE(scale), warp, lane);
#else
            dq_add_tensor(dq_map, (int)(bh + q_row(P, s, t0)), staged, dqa, DQ_SCALE(scale), warp, lane);
#endif
            return true;  // its barrier follows every warp's last read of the stage (the waits above)
        }
        dq_add(dq, dqa, bh, P, s, t0, qc, DQ_SCALE(scale), warp, lane);
        return false;
#else
        if (bulk) dq_add_bulk(dq + (bh + q_row(P, s, t0)) * DQK, (float*)(Qs0 + (i & 1) * 2 * 64 * 64), dqa, scale, warp, lane);
        else dq_add(dq, dqa, bh, P, s, t0, qc, scale, warp, lane);
#endif
    };
#if SA_VERSION >= 29
    if (!(mode & 32)) SA_AFTER_PREVIOUS_GRID();  // the row-dot's D (a later part: below)
#endif
#ifdef SA_TMA
    if constexpr (LATE) pipelined_ahead(tiles, issue, step);
    else
#endif
        pipelined<true, SA_VERSION >= 15>(tiles, issue, step);
#if SA_VERSION >= 15
    if (threadIdx.x == 0) bulk_wait_read();
#endif
#if SA_VERSION >= 29
    if (mode & 32) SA_AFTER_PREVIOUS_GRID();  // the earlier parts' dK and dV rows
#endif
#pragma unroll
    for (int hf = 0; hf < KT; ++hf) {
        if (m0 + hf * 64 >= P.k_len) continue;
        end_key_block<PAIRS>(dk, dv, dk_out, dv_out, dka[hf], dva[hf], bh, P, b, H, h, m0 + hf * 64, [&](int r) { return krow(hf * 64 + r); }, scale, warp, lane, mode END_S_ARG);
    }
}
extern "C" __global__ void DKDV_BOUNDS sa_backward_dkdv_wg(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                          const float* lse, const float* dsum, float* dk, float* dv, float* dq, Part P, int H, float scale DKDV_OUT DQ_MAP) {
    dkdv_wg<false>(tile_of(P, BK, false), q, k, v, dout, sq, sk, sv, sd, lse, dsum, dk, dv, dq, P, H, scale DKDV_OUT_ARG DQ_MAP_ARG NO_TILE_MAPS_ARG);
}
#ifdef SA_TMA
extern "C" __global__ void DKDV_BOUNDS sa_backward_dkdv_tma_wg(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                              const float* lse, const float* dsum, float* dk, float* dv, float* dq, Part P, int H, float scale DKDV_OUT DQ_MAP TILE_MAPS) {
    dkdv_wg<true>(tile_of(P, BK, false), q, k, v, dout, sq, sk, sv, sd, lse, dsum, dk, dv, dq, P, H, scale DKDV_OUT_ARG DQ_MAP_ARG TILE_MAPS_ARG);
}
#if SA_VERSION >= 27
// Version 27: blocks of two key tiles (128 keys, KT = 2 in `dkdv_wg`) at two blocks an SM (up
// to 255 registers a thread: the two tiles' dK and dV accumulators are 128). A query tile's
// step computes the two key tiles' products one after the other and their dQ shares into one
// accumulator, so one dQ staging, one barrier and one bulk reduction serve 128 keys, and the
// Q and dO tiles are loaded once for both. (The dQ path cost 0.33 of version 24's 1.89 ms on
// enwik8, its barrier alone 0.1: RESULTS, seventh session.) The host takes it for parts whose
// query bands are long (`tma_dkdv_key_tiles`). H200, alternating with v26: dense 5.97 / 6.01
// ms against 6.37 / 6.35, n = 1,048,576 23.6 / 23.5 against 27.3 / 27.2; audio's windows of
// 256 lose (1.398 / 1.397 against 1.384) and keep one key tile. The merged fixed pattern's pair
// kernel keeps one too: with two (own blocks of one or two) enwik8 took 1.83-1.87 ms against
// 1.83-1.86, the pair kernel 1.278 ms against 1.261 at card clocks.
extern "C" __global__ void __launch_bounds__(NTHREADS, 2) sa_backward_dkdv_tma2_wg(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                                                   const float* lse, const float* dsum, float* dk, float* dv, float* dq, Part P, int H, float scale DKDV_OUT DQ_MAP TILE_MAPS) {
    dkdv_wg<true, false, 2>(tile_of(P, 2 * BK, false), q, k, v, dout, sq, sk, sv, sd, lse, dsum, dk, dv, dq, P, H, scale DKDV_OUT_ARG DQ_MAP_ARG TILE_MAPS_ARG);
}
#endif
#if SA_VERSION >= 24
// Version 24: the merged fixed pattern's backward in one launch, P its own blocks, S its
// summary part (the queries of both are all rows, so one pair of maps serves). Grid (batch x
// heads, 1, S's key tiles + P's): the summary tiles first, heaviest first, then the own
// blocks' tiles, which fill the SMs beside the long summary blocks and their tail. Each key's
// shares settle by `arrivals` (`settle_key_rows`); `mode` is unused.
extern "C" __global__ void DKDV_BOUNDS sa_backward_dkdv_pair_tma_wg(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                                   const float* lse, const float* dsum, float* dk, float* dv, float* dq, Part P, int H, float scale DKDV_OUT DQ_MAP TILE_MAPS) {
    const int s_tiles = (S.k_len + BK - 1) / BK, z = blockIdx.z;
    if (z < s_tiles) {
        dkdv_wg<true, true>(tile_at(S, blockIdx.x, 0, z, BK), q, k, v, dout, sq, sk, sv, sd, lse, dsum, dk, dv, dq, S, H, scale, dk_out, dv_out, 4 | 16, S, arrivals DQ_MAP_ARG TILE_MAPS_ARG);
    } else {
        const int own_tiles = (P.k_len + BK - 1) / BK, zo = z - s_tiles;
        dkdv_wg<true, true>(tile_at(P, blockIdx.x, zo / own_tiles, zo % own_tiles, BK), q, k, v, dout, sq, sk, sv, sd, lse, dsum, dk, dv, dq, P, H, scale, dk_out, dv_out, 16, S, arrivals DQ_MAP_ARG TILE_MAPS_ARG);
    }
}
#endif
#endif

// The forward on wgmma: 128-row query tiles (two m64 halves), and 64-row ones for the parts
// the host gives `sa_forward_narrow` (windowed and short ones).
extern "C" __global__ void FWD_BOUNDS sa_forward_wg(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, Part P, int H, float scale FWD_FINAL) {
    forward_tiles<2, true>(q, k, v, sq, sk, sv, o_part, lse_part, P, H, scale FWD_FINAL_ARG NO_TILE_MAPS_ARG);
}
// (5 blocks per SM: 102 registers, no spills; H200, audio 2.055 -> 2.036 ms against 4.)
// Version 17: 4. From version 15's exponentials the compiler fitted 5 blocks' 94 registers
// only by serialising the products (ptxas C7512: a wait after each wgmma); at 4 (128
// registers) they run unserialised, and every wgmma forward takes 64-row tiles (the 128-row
// kernel, at 168 registers, is serialised too; with TMA loads a key tile costs one
// instruction, so loading it twice as often is cheap). H200: enwik8 forward 0.643 -> 0.568
// ms, dense 1.764 -> 1.669.
#ifndef NARROW_WG_BLOCKS
#define NARROW_WG_BLOCKS (SA_VERSION >= 17 ? 4 : 5)
#endif
extern "C" __global__ void __launch_bounds__(NTHREADS, NARROW_WG_BLOCKS) sa_forward_narrow_wg(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, Part P, int H, float scale FWD_FINAL) {
    forward_tiles<1, true>(q, k, v, sq, sk, sv, o_part, lse_part, P, H, scale FWD_FINAL_ARG NO_TILE_MAPS_ARG);
}
#ifdef SA_TMA
// Version 16: the same two with their key and value tiles by TMA (parts with tensor maps).
extern "C" __global__ void FWD_BOUNDS sa_forward_tma_wg(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, Part P, int H, float scale FWD_FINAL TILE_MAPS) {
    forward_tiles<2, true, true>(q, k, v, sq, sk, sv, o_part, lse_part, P, H, scale FWD_FINAL_ARG TILE_MAPS_ARG);
}
extern "C" __global__ void __launch_bounds__(NTHREADS, NARROW_WG_BLOCKS) sa_forward_narrow_tma_wg(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, Part P, int H, float scale FWD_FINAL TILE_MAPS) {
    forward_tiles<1, true, true>(q, k, v, sq, sk, sv, o_part, lse_part, P, H, scale FWD_FINAL_ARG TILE_MAPS_ARG);
}
#if SA_VERSION >= 21
// Version 21: a merged fixed pattern in one launch, P its summary part, `own` its own blocks.
extern "C" __global__ void __launch_bounds__(NTHREADS, NARROW_WG_BLOCKS) sa_forward_own_tma_wg(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, Part P, int H, float scale FWD_FINAL TILE_MAPS,
                                                                                               const __grid_constant__ OwnBlocks own) {
    forward_tiles<1, true, true, true>(q, k, v, sq, sk, sv, o_part, lse_part, P, H, scale FWD_FINAL_ARG TILE_MAPS_ARG, &own);
}
#endif
#endif

// A check of the three operand layouts of sparse_attention_wgmma.cuh on one 64 x 64 pair (tests/gpu_wgmma.rs compares
// it with the CPU): out[0] = A B^T, out[1] = A B (A from registers), out[2] = A^T B; each
// fp32, row-major 64 x 64. One block of 128 threads.
extern "C" __global__ void sa_wgmma_check(const elem* a, const elem* b, float* out) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    elem* As = aligned_tiles(smem_raw);
    elem* Bs = As + 64 * 64;
    load_tile_async<64, 64, 64, true>(As, a, 64, [](int r) -> i64 { return r; });
    load_tile_async<64, 64, 64, true>(Bs, b, 64, [](int r) -> i64 { return r; });
    cp_commit();
    cp_wait<0>();
    fence_async_shared();
    __syncthreads();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c2 = (lane & 3) * 2;
    // A's rows of this warp as accumulator-layout registers, for the register-A product.
    float x[8][4];
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int r = warp * 16 + g + (e >> 1) * 8, c = j * 8 + c2 + (e & 1);
            x[j][e] = to_f(As[tile_offset<64, true>(r, c / 8) + c % 8]);
        }
    float d[3][8][4];
    zero(d[1]);
    unsigned xa[4][4];
    pack_rows(xa, x);
    wg_fence();
    wg_abt(d[0], As, Bs);
    wg_xb(d[1], xa, Bs);
    wg_atb(d[2], As, Bs);
    wg_commit();
    wg_wait<0>();
#pragma unroll
    for (int m = 0; m < 3; ++m) {
        wg_hold(d[m]);
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) out[m * 4096 + (warp * 16 + g + (e >> 1) * 8) * 64 + j * 8 + c2 + (e & 1)] = d[m][j][e];
    }
}

#endif
