// sparse_attention_wgmma32.cu: version 34's kernels for 32-wide heads on Hopper's wgmma, the
// dK/dV kernel (`sa_backward_dkdv_wg32`) and the forward (`sa_forward_wg32`, at the end);
// compiled after sparse_attention_wgmma.cu, whose primitives they use
// (sparse_attention_wgmma.cuh defines SA_WGMMA32 for these heads from version 34 on sm_90a).
//
// Why: ImageNet 64's heads are 32 wide, and their mma.sync dK/dV kernel (`sa_backward_dkdv`)
// is bound by shared memory, not by arithmetic: its LSU data pipe is 73% busy (H200 profile
// of v29), and neither more warps an SM nor fewer L2 reductions moved it (attempts measured
// and dropped, benches/RESULTS.md). Each of its four warps reads the whole Q and dO tiles through
// ldmatrix for its own 16 keys, so a step reads about 98 KB of shared memory for a 64 x 64
// tile pair. wgmma reads an operand once for the whole warpgroup: the five products of a step
// (S^T, dP^T, dV, dK, dQ) read about 32 KB, and take 16 wgmma instructions a warpgroup instead
// of 80 mma.sync and about 48 ldmatrix a warp.
//
// Tiles: the 32-wide ones (K, V, Q, dO: 64 rows of 64 bytes) in the 64-byte swizzle, 16-byte
// vector v of row r at v ^ ((r / 2) % 4) (`swz64_offset`); the 64 x 64 dS^T tile in the
// 128-byte swizzle as in the 64-wide kernel. The same 64 x 32 tile is a K-major operand
// (S^T = K Q^T contracts over its 32 columns: two K-steps of 32 bytes) and an MN-major one
// (dV += P^T dO contracts over its 64 rows: four K-steps of 16 rows, 1024 bytes each; its 32
// columns are one swizzle atom wide).

#ifdef SA_WGMMA32
// The descriptor of a 64 x 32 tile in the 64-byte swizzle: start address (16-byte units),
// leading byte offset 16 (unused: the tile is one atom wide in both uses), stride byte offset
// 512 (8 rows of 64 bytes), layout type 2 (64-byte swizzle, bits 62-63).
__device__ __forceinline__ u64 wg_desc64(const elem* tile) {
    const unsigned addr = (unsigned)__cvta_generic_to_shared(tile);
    return (u64)((addr & 0x3FFFF) >> 4) | ((u64)1 << 16) | ((u64)(512 >> 4) << 32) | ((u64)2 << 62);
}
#define WG64_K_MAJOR_STEP 2    // 32 bytes
#define WG64_MN_MAJOR_STEP 64  // 16 rows of 64 bytes

// Where 16-byte vector v (0 .. 3) of row r of a 64 x 32 tile lies (elements; 64-byte swizzle).
__device__ __forceinline__ int swz64_offset(int r, int v) { return r * 32 + ((v ^ ((r >> 1) & 3)) << 3); }

// Queues the copies of two 64 x 32 tiles whose row r is row_of(r) of b1 and b2 (-1: zeros),
// or of the first only (t2 null), in the 64-byte swizzle: two threads a row, two 16-byte
// vectors of each tile a thread.
template <typename RowOf>
__device__ __forceinline__ void load_pair_swz64(elem* t1, const elem* b1, i64 st1, elem* t2, const elem* b2, i64 st2, RowOf row_of) {
    static_assert(NTHREADS == 128, "two threads a row of 64");
    const int r = threadIdx.x >> 1, v0 = (threadIdx.x & 1) * 2;
    const i64 row = row_of(r);
    const bool ok = row >= 0;
#pragma unroll
    for (int v = v0; v < v0 + 2; ++v) {
        cp_async16(t1 + swz64_offset(r, v), ok ? b1 + row * st1 + v * 8 : b1, ok);
        if (t2) cp_async16(t2 + swz64_offset(r, v), ok ? b2 + row * st2 + v * 8 : b2, ok);
    }
}

// d (+)= A B, one m64n32k16 step (16 accumulators a thread: the mma layout over four 8-column
// groups); A and B in shared memory (TA / TB: MN-major), or A from registers.
#define WG_SS32(T) asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\nwgmma.mma_async.sync.aligned.m64n32k16.f32." T "." T " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, %19, %20;\n}\n" \
                                : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]) : "l"(da), "l"(db), "r"((int)accumulate), "n"(TA), "n"(TB))
template <int TA, int TB>
__device__ __forceinline__ void wg_ss32(float (&d)[4][4], u64 da, u64 db, bool accumulate) {
    if constexpr (elem_is_half<elem>::value) WG_SS32("f16");
    else WG_SS32("bf16");
}
#define WG_RS32(T) asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\nwgmma.mma_async.sync.aligned.m64n32k16.f32." T "." T " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, {%16, %17, %18, %19}, %20, p, 1, 1, %22;\n}\n" \
                                : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"((int)accumulate), "n"(TB))
template <int TB>
__device__ __forceinline__ void wg_rs32(float (&d)[4][4], const unsigned (&a)[4], u64 db, bool accumulate) {
    if constexpr (elem_is_half<elem>::value) WG_RS32("f16");
    else WG_RS32("bf16");
}
__device__ __forceinline__ void wg_hold(float (&d)[4][4]) {
#pragma unroll
    for (int j = 0; j < 4; ++j) wg_hold4(d[j]);
}

// S = A B^T (64 x 64) over 32 columns: two 64 x 32 tiles, both K-major.
__device__ __forceinline__ void wg_abt32(float (&d)[8][4], const elem* A, const elem* B) {
    const u64 da = wg_desc64(A), db = wg_desc64(B);
#pragma unroll
    for (int k = 0; k < 2; ++k) wg_ss<0, 0>(d, da + k * WG64_K_MAJOR_STEP, db + k * WG64_K_MAJOR_STEP, k > 0);
}
// d += X B (64 x 32): X the packed A fragments of four K-steps, B a 64 x 32 tile over its rows.
__device__ __forceinline__ void wg_xb32(float (&d)[4][4], const unsigned (&a)[4][4], const elem* B) {
    const u64 db = wg_desc64(B);
#pragma unroll
    for (int k = 0; k < 4; ++k) wg_rs32<1>(d, a[k], db + k * WG64_MN_MAJOR_STEP, true);
}
// d = A^T B (64 x 32): A the 64 x 64 dS^T tile (128-byte swizzle), B a 64 x 32 tile, both
// contracted over their rows.
__device__ __forceinline__ void wg_atb32(float (&d)[4][4], const elem* A, const elem* B) {
    const u64 da = wg_desc(A), db = wg_desc64(B);
#pragma unroll
    for (int k = 0; k < 4; ++k) wg_ss32<1, 1>(d, da + k * WG_MN_MAJOR_STEP, db + k * WG64_MN_MAJOR_STEP, k > 0);
}

// Blocks per SM (a -D override for experiments).
#ifndef WG32_DKDV_BLOCKS
#define WG32_DKDV_BLOCKS 4
#endif

// As `sa_backward_dkdv` (same arguments and grid; one key tile a block), its products on
// wgmma: per query tile S^T = K Q^T and dP^T = V dO^T (two K-steps each), P^T and dS^T by
// `ds_from_scores`, dV += P^T dO and dK += dS^T Q (A from registers), dS^T to shared memory
// by `stmatrix`, dQ = dS K (A = dS^T read transposed), added to dQ by vector reductions
// (`dq_add`). Shared: dS^T (64 x 64), then K, V, two stages of Q and dO (64 x 32 each).
extern "C" __global__ void __launch_bounds__(NTHREADS, WG32_DKDV_BLOCKS) sa_backward_dkdv_wg32(const elem* q, const elem* k, const elem* v, const elem* dout, Str3 sq, Str3 sk, Str3 sv, Str3 sd,
                                                                                             const float* lse, const float* dsum, float* dk, float* dv, float* dq, Part P, int H, float scale DKDV_OUT) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    elem* dSs = aligned_tiles(smem_raw);
    elem* Ks = dSs + 64 * 64;
    elem* Vs = Ks + 64 * 32;
    elem* Qs0 = Vs + 64 * 32;  // stage st: Q at Qs0 + st 2 x 64 x 32, dO right after it
    __shared__ QueryTile T[2];
    const Tile t = tile_of(P, BK, false);
    const int s = t.s, b = t.b, h = t.h, off = t.off, qc = t.qc, m0 = t.p0;
    if (m0 >= P.k_len) return;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2;
    const float sl2 = scale * LOG2E, lse_bias = LSE_BIAS(scale);
    const i64 bh = (i64)(b * H + h) * P.n;
    const elem *qb = q + b * sq.b + h * sq.h, *db = dout + b * sd.b + h * sd.h;
    auto krow = [&](int r) -> i64 { return key_row_or_none(P, s, m0 + r, off); };
    load_pair_swz64(Ks, k + b * sk.b + h * sk.h, sk.t, Vs, v + b * sv.b + h * sv.h, sv.t, krow);
    const TileBand qt = query_band(P, m0, off, qc);
    const int first = qt.first, tiles = qt.tiles;
    WholeTiles whole = whole_tiles(P);
    auto issue = [&](int i) {
        const int t0 = first + i * BQ, st = i & 1;
        query_tile_async(T[st], P, s, t0, qc, off, bh, lse, dsum, !whole.known(t0, qc));
        elem* Qs = Qs0 + st * 2 * 64 * 32;
        load_pair_swz64(Qs, qb, sq.t, Qs + 64 * 32, db, sd.t, [&](int r) -> i64 { return t0 + r < qc ? q_row(P, s, t0 + r) : -1; });
    };
    float dka[4][4], dva[4][4];
    zero(dka);
    zero(dva);
    const int my_key[2] = {m0 + warp * 16 + g, m0 + warp * 16 + g + 8};
    if (!(mode & 32)) SA_AFTER_PREVIOUS_GRID();  // the row-dot's statistics (a later part: below)
    pipelined<true>(tiles, issue, [&](int i) {
        const int t0 = first + i * BQ;
        const elem *Qs = Qs0 + (i & 1) * 2 * 64 * 32, *dOs = Qs + 64 * 32;
        float st[8][4], dpt[8][4];
        wg_fence();
        wg_abt32(st, Ks, Qs);    // S^T = K Q^T
        wg_abt32(dpt, Vs, dOs);  // dP^T = V dO^T
        wg_commit();
        wg_wait<0>();
        wg_hold(st);
        wg_hold(dpt);
        if (whole.next(P, t0, qc, m0, off)) ds_from_scores<false>(st, dpt, my_key, T[i & 1], sl2, lane, lse_bias);
        else ds_from_scores<true>(st, dpt, my_key, T[i & 1], sl2, lane, lse_bias);
        unsigned pa[4][4], ds[4][4];
        pack_rows(pa, st);
        pack_rows(ds, dpt);
        wg_fence();
        wg_xb32(dva, pa, dOs);  // dV += P^T dO
        wg_xb32(dka, ds, Qs);   // dK += dS^T Q
        wg_commit();
        // dS^T (row = key, column = query) to shared memory while those run, one `stmatrix`
        // per fragment (as version 26's 64-wide kernel)
        {
            const int mat = lane >> 3, row = warp * 16 + (lane & 7) + (mat & 1) * 8;
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) stsm_x4(dSs + tile_offset<64, true>(row, 2 * kk + (mat >> 1)), ds[kk]);
        }
        fence_async_shared();
        __syncthreads();  // every warp's dS^T rows are in dSs
        wg_wait<0>();
        wg_hold(dva);
        wg_hold(dka);
        float dqa[4][4];
        wg_fence();
        wg_atb32(dqa, dSs, Ks);  // dQ = dS K
        wg_commit();
        wg_wait<0>();
        wg_hold(dqa);
        dq_add(dq, dqa, bh, P, s, t0, qc, DQ_SCALE(scale), warp, lane);
    });
    if (mode & 32) SA_AFTER_PREVIOUS_GRID();  // the earlier parts' dK and dV rows
    end_key_block(dk, dv, dk_out, dv_out, dka, dva, bh, P, b, H, h, m0, krow, scale, warp, lane, mode END_S_ARG);
}

// Blocks per SM of the forward (a -D override for experiments).
#ifndef WG32_FWD_BLOCKS
#define WG32_FWD_BLOCKS 5
#endif

// The forward of 32-wide heads on wgmma, 64-row query tiles (`sa_forward_narrow`'s grid): per
// key tile S = Q K^T (two K-steps), version 30's packed softmax (`softmax_packed`), then O +=
// P V and the row sums P 1 (a 1 KB tile of ones, `wg_sums`) with P from registers. Each warp
// of the mma.sync forward read the whole K and V tiles through ldmatrix for its 16 rows.
// Shared: the tile of ones (128-byte swizzle), then Q and two stages of K and of V (64 x 32).
extern "C" __global__ void __launch_bounds__(NTHREADS, WG32_FWD_BLOCKS) sa_forward_wg32(const elem* q, const elem* k, const elem* v, Str3 sq, Str3 sk, Str3 sv, float* o_part, float* lse_part, Part P, int H, float scale FWD_FINAL) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    elem* ones = aligned_tiles(smem_raw);
    elem* Qs = ones + 8 * 64;
    elem* KVs0 = Qs + 64 * 32;  // stage st: K at KVs0 + st 2 x 64 x 32, V right after it
    const Tile t = tile_of(P, BQ);
    if (t.p0 >= t.qc) return;
    const int s = t.s, b = t.b, h = t.h, off = t.off, p0 = t.p0, p_last = t.p_last;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const float sl2 = scale * LOG2E;
    const elem *kb = k + b * sk.b + h * sk.h, *vb = v + b * sv.b + h * sv.h;
    auto qrow = [&](int r) -> i64 { return p0 + r <= p_last ? q_row(P, s, p0 + r) : -1; };
    const TileBand kt = key_band(P, p0, p_last, off);
    {
        const unsigned one = MMA::pack(1.f, 1.f);
        ((uint2*)ones)[threadIdx.x] = make_uint2(one, one);
        static_assert(NTHREADS * 8 == 1024, "one 8-byte store a thread fills the 1 KB tile");
    }
    // Q with the first key tile's copies; the tile of ones made visible by the first step's
    // proxy fence and barrier
    load_pair_swz64(Qs, q + b * sq.b + h * sq.h, sq.t, nullptr, nullptr, 0, qrow);
    Rows R = rows_of(P, s, p0, p_last, off, warp * 16, lane);
    float o[4][4], sums[1][4];
    zero(o);
    zero(sums);
    const int lo_last = lo_of(P, p_last), hi_first = hi_of(P, p0, off);
    pipelined<true>(kt.tiles, [&](int i) {
        elem* Ks = KVs0 + (i & 1) * 2 * 64 * 32;
        load_pair_swz64(Ks, kb, sk.t, Ks + 64 * 32, vb, sv.t, [&](int r) -> i64 { return key_row_or_none(P, s, kt.first + i * BK + r, off); });
    }, [&](int i) {
        const int t0 = kt.first + i * BK;
        const elem *Ks = KVs0 + (i & 1) * 2 * 64 * 32, *Vs = Ks + 64 * 32;
        float sc[8][4];
        wg_fence();
        wg_abt32(sc, Qs, Ks);  // S = Q K^T
        wg_commit();
        wg_wait<0>();
        wg_hold(sc);
        float alpha[2];
        unsigned pa[4][4];
        const bool rescale = lo_last <= t0 && hi_first >= t0 + BK - 1 ? softmax_packed<false>(sc, R, pa, alpha, t0, sl2, lane) : softmax_packed<true>(sc, R, pa, alpha, t0, sl2, lane);
        if (rescale) rescale_with_sums(o, sums[0], alpha);
        wg_fence();
        wg_xb32(o, pa, Vs);         // O += P V
        wg_sums(sums[0], pa, ones);  // sums += P 1
        wg_commit();
        wg_wait<0>();
        wg_hold(o);
        wg_hold4(sums[0]);
    });
    sums_to_rows(R, sums[0], lane);
    if (!(F.mode & 1)) SA_AFTER_PREVIOUS_GRID();  // the running output of the parts before
    fwd_merge(o, R, o_part, lse_part, F, (i64)(b * H + h) * P.n, b * F.so.b + h * F.so.h, p0, p_last, warp * 16, lane, qrow);
}
#endif
