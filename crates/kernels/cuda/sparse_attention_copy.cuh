// sparse_attention_copy.cuh: the asynchronous copies of the fused sparse attention from
// version 3 on (compiled just before sparse_attention_v3.cu): cp.async tiles, the two-stage
// pipeline that runs a block's tiles, and the copy of a query tile's statistics.
//
// What v3 adds: the tiles a block walks through (keys and values in the forward and dQ
// kernels, queries and output gradients in the dK/dV kernel) are copied with cp.async into
// two shared-memory stages, so that the copy of tile i + 1 runs while tile i is computed.
// Row indices are computed by each copying thread, so a stage needs no index table.

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
    int bytes = valid ? 16 : 0;  // 0: fill the 16 bytes with zeros, read nothing
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

// Queues the copy of a ROWS-row tile of width W (stride LD) from rows row_of(r) (-1: zeros).
template <int W, int LD, int ROWS = 64, bool SWZ = false, typename RowOf>
__device__ __forceinline__ void load_tile_async(elem* tile, const elem* base, i64 st, RowOf row_of) {
    static_assert(!SWZ || W == 64, "swizzled tiles are 64 elements wide");
    constexpr int VEC = 8, PER_ROW = W / VEC;
    for (int i = threadIdx.x; i < ROWS * PER_ROW; i += NTHREADS) {
        int r = i / PER_ROW, v = i % PER_ROW;
        i64 row = row_of(r);
        cp_async16(tile + tile_offset<LD, SWZ>(r, v), row >= 0 ? base + row * st + v * VEC : base, row >= 0);
    }
}

// Runs compute(i) for tiles i = 0 .. tiles - 1 while issue(i + 1) copies the next tile into
// the other stage. Copies queued before the call (a block's fixed tiles) join tile 0's group.
// With ASYNC_READS (version 14), tile i is made visible to the tensor cores' asynchronous
// reads (wgmma) too, not only to ordinary loads.
// With SYNCED (version 15), compute(i) returns whether it ended with a block barrier after
// its last read of the stage, which then serves as the stage's release.
template <bool ASYNC_READS = false, bool SYNCED = false, typename Issue, typename Compute>
__device__ __forceinline__ void pipelined(int tiles, Issue issue, Compute compute) {
    if (tiles > 0) issue(0);
    cp_commit();
    for (int i = 0; i < tiles; ++i) {
        if (i + 1 < tiles) {
            issue(i + 1);
            cp_commit();
            cp_wait<1>();
        } else {
            cp_wait<0>();
        }
        if (ASYNC_READS) asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();  // tile i is in shared memory for every thread
        if constexpr (SYNCED) {
            if (!compute(i)) __syncthreads();
        } else {
            compute(i);
            __syncthreads();  // its stage is free for tile i + 2
        }
    }
    cp_wait<0>();
}

#if defined(SA_TMA) && SA_VERSION >= 28
// Version 28: `pipelined<true, true>` for the TMA dK/dV kernel, without the barrier that began
// each step (15% of the v27 pair kernel's stall samples, H200, enwik8). What it published, the
// next tile's statistics (`query_tile_async`, cp.async), is issued at the start of step i and
// waited for by each thread in the middle of the step (`cp_wait<0>` after the dS^T barrier), so
// that the step's last barrier publishes it; the Q and dO tiles have their mbarriers.
template <typename Issue, typename Compute>
__device__ __forceinline__ void pipelined_ahead(int tiles, Issue issue, Compute compute) {
    if (tiles > 0) issue(0);
    cp_commit();
    cp_wait<0>();
    fence_async_shared();
    __syncthreads();  // the block's own tiles and the first statistics, for every thread
    for (int i = 0; i < tiles; ++i) {
        if (i + 1 < tiles) issue(i + 1);
        cp_commit();
        if (!compute(i)) __syncthreads();
    }
    cp_wait<0>();
}
#endif

// Version 5 cuts the instructions around the tensor cores, which profiling showed to be the
// limit (the forward issued an instruction on 58% of cycles with the tensor pipe far from
// busy; the dK/dV kernel stalled on shared-memory loads of per-query statistics):
//  - key (or query) rows are computed once per thread and row for both matrices of a tile
//    (v3 recomputed the index arithmetic, with its divisions, for every 16-byte copy);
//  - a tile that every row sees whole skips the visibility comparisons (`MASK = false`): only
//    tiles on the edges of a part's band are masked;
//  - the dK/dV kernel reads two queries' statistics in one 8-byte load;
//  - launch bounds ask for 4 forward / 3 dK/dV blocks per SM (registers capped accordingly).
// The two tiles of one 64-row step, rows row_of(r) (-1: zeros), widths W1 and W2.
template <int W1, int LD1, int W2, int LD2, bool SWZ = false, typename RowOf>
__device__ __forceinline__ void load_pair_async(elem* t1, const elem* b1, i64 st1, elem* t2, const elem* b2, i64 st2, RowOf row_of) {
    static_assert(!SWZ || (W1 == 64 && W2 == 64), "swizzled tiles are 64 elements wide");
    constexpr int TPR = (W1 < W2 ? W1 : W2) / 8;  // threads per row
    const int c = threadIdx.x % TPR;
#pragma unroll
    for (int r = threadIdx.x / TPR; r < 64; r += NTHREADS / TPR) {
        i64 row = row_of(r);
        bool ok = row >= 0;
#pragma unroll
        for (int v = c; v < W1 / 8; v += TPR) cp_async16(t1 + tile_offset<LD1, SWZ>(r, v), ok ? b1 + row * st1 + v * 8 : b1, ok);
#pragma unroll
        for (int v = c; v < W2 / 8; v += TPR) cp_async16(t2 + tile_offset<LD2, SWZ>(r, v), ok ? b2 + row * st2 + v * 8 : b2, ok);
    }
}
// v6: a query tile's statistics join the tile's asynchronous copy (4-byte cp.async, the
// log-sum-exp unscaled), instead of global loads that stalled the issuing warps.
// Version 31: `bounds` false leaves out the visibility bounds, for a tile the caller knows to
// be seen whole (its steps read only lse and D).
__device__ __forceinline__ void query_tile_async(QueryTile& T, const Part& P, int s, int t0, int qc, int off, i64 bh, const float* lse, const float* dsum, bool bounds = true) {
#if SA_VERSION >= 28
    // Version 28: one statistic of one query a thread, over all 128 threads (threads 0-63: the
    // lower bound and lse; 64-127: the upper bound and D), not both of one query by 64 threads
    // while two warps idle: no warp arrives late at the barrier that follows.
    static_assert(NTHREADS == 2 * BQ, "two threads a query");
    const int r = threadIdx.x & (BQ - 1), p = t0 + r;
    const bool ok = p < qc, upper = threadIdx.x >= BQ;
    const i64 row = ok ? bh + q_row(P, s, p) : 0;
    if (bounds) {
        if (upper) T.hi[r] = ok ? hi_of(P, p, off) : -1;
        else T.lo[r] = ok ? lo_of(P, p) : 1;
    }
    const unsigned dst = (unsigned)__cvta_generic_to_shared(upper ? &T.d[r] : &T.lse2[r]);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"((upper ? dsum : lse) + row), "r"(ok ? 4 : 0));
#else
    for (int r = threadIdx.x; r < BQ; r += NTHREADS) {
        int p = t0 + r;
        bool ok = p < qc;
        i64 row = ok ? bh + q_row(P, s, p) : 0;
        T.lo[r] = ok ? lo_of(P, p) : 1;
        T.hi[r] = ok ? hi_of(P, p, off) : -1;
        unsigned dst_l = (unsigned)__cvta_generic_to_shared(&T.lse2[r]), dst_d = (unsigned)__cvta_generic_to_shared(&T.d[r]);
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst_l), "l"(lse + row), "r"(ok ? 4 : 0));
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst_d), "l"(dsum + row), "r"(ok ? 4 : 0));
    }
#endif
}
