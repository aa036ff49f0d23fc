// sparse_attention_ends.cuh: how the blocks of the v3+ kernels end (compiled after the copies,
// before sparse_attention_v3.cu): the forward's merge of a part's rows into the running output
// (version 9 on) and the dK/dV kernel's finish of its key rows (version 8 on).

#if SA_VERSION >= 9
// Version 9: no per-part outputs and no combine kernel. The parts of a pattern merge, one
// after another, into one running (output, log-sum-exp) pair in fp32: a part reads the
// running pair of its rows (unless it is the first to write them, `mode` bit 0), merges its
// own (lse = log(e^lse_run + e^lse_part), out = weights of each), and writes it back, or, if it
// is the last part (`mode` bit 1), writes the final half-precision output and lse. The host
// sets the bits only for parts covering every query row of every head.
struct Final {
    elem* out;
    Str3 so;
    float* lse;
    int mode;
};

template <typename RowOf>
__device__ __forceinline__ void fwd_merge(float (&o)[DV / 8][4], Rows& R, float* o_run, float* lse_run, const Final& F, i64 bh, i64 out_base, int p0, int p_last, int r0, int lane, RowOf row_of) {
    const int g = lane >> 2, c2 = (lane & 3) * 2;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        R.l_run[i] += __shfl_xor_sync(0xffffffff, R.l_run[i], 1);
        R.l_run[i] += __shfl_xor_sync(0xffffffff, R.l_run[i], 2);
    }
    // Merges row i (t: its row in the sequence, prev: its running lse) with its running output
    // in o_run, loaded here or, with `pre`, already.
    auto merge_row = [&](int i, i64 t, float prev, const float2* pre) {
        const i64 base = bh + t;
        float mine = R.l_run[i] > 0.f ? (R.m_run[i] + log2f(R.l_run[i])) * LN2 : -INFINITY;
        float top = fmaxf(prev, mine);
        float w_prev = prev == -INFINITY ? 0.f : __expf(prev - top), w_mine = mine == -INFINITY ? 0.f : __expf(mine - top);
        float total = w_prev + w_mine;
        float lse = total > 0.f ? top + __logf(total) : -INFINITY;
        float inv = total > 0.f ? 1.f / total : 0.f;
        w_prev *= inv;
        w_mine *= R.l_run[i] > 0.f ? inv / R.l_run[i] : 0.f;
#pragma unroll
        for (int j = 0; j < DV / 8; ++j) {
            float2 val = i ? make_float2(o[j][2], o[j][3]) : make_float2(o[j][0], o[j][1]);
            val.x *= w_mine;
            val.y *= w_mine;
            if (w_prev > 0.f) {
                float2 pv = pre ? pre[j] : *(const float2*)(o_run + base * DV + j * 8 + c2);
                val.x += w_prev * pv.x;
                val.y += w_prev * pv.y;
            }
            if (F.mode & 2) *(unsigned*)(F.out + out_base + t * F.so.t + j * 8 + c2) = MMA::pack(val.x, val.y);
            else *(float2*)(o_run + base * DV + j * 8 + c2) = val;
        }
        if ((lane & 3) == 0) {
            if (F.mode & 2) F.lse[base] = lse;
            else lse_run[base] = lse;
        }
    };
#if SA_VERSION >= 20
    // Version 20: every load of both rows before the first store (see `finish_row`: each
    // load stalled the warp on its own, the compiler keeping it below the stores before it),
    // the outputs' loads not waiting for the lse's (`merge_row` reads them only when the lse
    // is finite, which means that an earlier part wrote them).
    i64 t[2];
    float prev[2];
    float2 pv[2][DV / 8];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const bool ok = p0 + r0 + g + 8 * i <= p_last;
        t[i] = ok ? row_of(r0 + g + 8 * i) : -1;
        prev[i] = (ok && !(F.mode & 1)) ? lse_run[bh + t[i]] : -INFINITY;
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < DV / 8; ++j) pv[i][j] = t[i] >= 0 && !(F.mode & 1) ? *(const float2*)(o_run + (bh + t[i]) * DV + j * 8 + c2) : make_float2(0.f, 0.f);
    __syncwarp();  // every lane of the rows has read lse_run before lane 0 rewrites it
#pragma unroll
    for (int i = 0; i < 2; ++i)
        if (t[i] >= 0) merge_row(i, t[i], prev[i], pv[i]);
#else
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        int r = r0 + g + 8 * i;
        bool ok = p0 + r <= p_last;
        i64 t = ok ? row_of(r) : 0;
        float prev = (ok && !(F.mode & 1)) ? lse_run[bh + t] : -INFINITY;
        __syncwarp();  // every lane of the row has read lse_run before lane 0 rewrites it
        if (!ok) continue;
        merge_row(i, t, prev, nullptr);
    }
#endif
}
#define FWD_FINAL , Final F
#define FWD_FINAL_ARG , F
#else
#define FWD_FINAL
#define FWD_FINAL_ARG
#endif

#if SA_VERSION >= 8
// Version 8 spends less memory traffic on the fp32 gradient accumulators. `mode` bit 0: this
// part is the first to write these rows, so it stores instead of adding (the host skips
// zeroing dK and dV); bit 1: the last, so it adds its share and writes the final
// half-precision gradients to dk_out / dv_out (the host skips the cast). The host sets a bit
// only for a part whose key tiles cover every row of every head.
#if SA_VERSION >= 20
#define CUR_ROW(W) , const float2(&cur)[W / 8]
#else
#define CUR_ROW(W)
#endif
template <int W>
__device__ __forceinline__ void finish_row(float* acc_row, elem* out_row, const float (&acc)[W / 8][4], int i, float mult, int lane, int mode CUR_ROW(W)) {
    const int c2 = (lane & 3) * 2;
    // (selects, not acc[j][2 * i]: a run-time index would put acc in local memory)
    auto val_at = [&](int j) { return i ? make_float2(acc[j][2] * mult, acc[j][3] * mult) : make_float2(acc[j][0] * mult, acc[j][1] * mult); };
#if SA_VERSION >= 20
    // Version 20: a middle part (neither bit) adds by reductions, which nothing waits for; a
    // last one has its row's values loaded already (`cur`, by `finish_key_rows`, before any
    // store). Before, each value was loaded, added and stored in turn: the compiler may not
    // move a load above a store that could alias it, so every load, usually a miss to DRAM,
    // stalled the warp on its own (H200 profile, enwik8's summary dK/dV kernel: 15% of all
    // stall samples).
    if (!(mode & 3)) {
#pragma unroll
        for (int j = 0; j < W / 8; ++j) {
            const float2 val = val_at(j);
            asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" ::"l"(acc_row + j * 8 + c2), "f"(val.x), "f"(val.y) : "memory");
        }
        return;
    }
#pragma unroll
    for (int j = 0; j < W / 8; ++j) {
        float2 val = val_at(j);
        if (!(mode & 1)) {
            val.x += cur[j].x;
            val.y += cur[j].y;
        }
        if (mode & 2) *(unsigned*)(out_row + j * 8 + c2) = MMA::pack(val.x, val.y);
        else *(float2*)(acc_row + j * 8 + c2) = val;
    }
#else
#pragma unroll
    for (int j = 0; j < W / 8; ++j) {
        float2 val = val_at(j);
        if (!(mode & 1)) {
            float2 cur = *(const float2*)(acc_row + j * 8 + c2);
            val.x += cur.x;
            val.y += cur.y;
        }
        if (mode & 2) *(unsigned*)(out_row + j * 8 + c2) = MMA::pack(val.x, val.y);
        else *(float2*)(acc_row + j * 8 + c2) = val;
    }
#endif
}
#if SA_VERSION >= 23
// Version 23, the merged fixed pattern's backward without full-size fp32 dK and dV: its
// summary part runs first and stores its keys' sums in a compact buffer, row m for its m-th key
// (`mode` bit 2: the caller passes compact rows); the own-block part runs last and, for each
// of its rows that is one of the summary part `S`'s keys (`compact_key`), adds that compact
// row before writing the final gradients (bit 3; `dk`, `dv` are then the compact buffers, `bhz`
// the block's batch-head index). Neither the full-size buffers nor their casts remain.
// Index of `row` among the keys of summary part S for head h (rows `(m / c) l + m % c + off`),
// or -1 (CPU mirror: `SaPart::compact_key`).
__device__ __forceinline__ int compact_key(const Part& S, int h, i64 row) {
    const i64 rel = row - off_of(S, h);
    if (rel < 0) return -1;
    const i64 blk = rel / S.k_gstride, u = rel - blk * S.k_gstride, m = blk * S.k_group + u;
    return u < S.k_group && m < S.k_len ? (int)m : -1;
}
#define COMPACT_PARAM , int h, i64 bhz, const Part& S
#define COMPACT_ARG , h, (i64)b * H + h, S
#else
#define COMPACT_PARAM
#define COMPACT_ARG
#endif
// The end of a dK/dV block: the warp's two key rows per thread (krow(r): global row of key
// r of the block, or -1) finished by `finish_row` (dK scaled; from v19 dV divided by the scale).
template <typename KeyRow>
__device__ __forceinline__ void finish_key_rows(float* dk, float* dv, elem* dk_out, elem* dv_out, const float (&dka)[DQK / 8][4], const float (&dva)[DV / 8][4], i64 bh, KeyRow krow, float scale, int warp, int lane, int mode COMPACT_PARAM) {
#if SA_VERSION >= 19
    const float dk_mult = 1.f, dv_mult = 1.f / scale;  // (v19: dS and P came times the scale)
#else
    const float dk_mult = scale, dv_mult = 1.f;
#endif
#if SA_VERSION >= 20
    // A last part loads its rows' accumulated values first, both rows at once when the
    // registers allow (head widths up to 64 + 64), then stores.
    constexpr int AHEAD = DQK + DV <= 128 ? 2 : 1;
    const int c2 = (lane & 3) * 2;
    const i64 rows[2] = {krow(warp * 16 + (lane >> 2)), krow(warp * 16 + (lane >> 2) + 8)};
    float2 ck[AHEAD][DQK / 8], cv[AHEAD][DV / 8];
#pragma unroll
    for (int i0 = 0; i0 < 2; i0 += AHEAD) {
#pragma unroll
        for (int a = 0; a < AHEAD; ++a) {
            const i64 row = rows[i0 + a];
            if ((mode & 3) != 2 || row < 0) continue;
            i64 src = bh + row;
            bool has = true;
#if SA_VERSION >= 23
            if (mode & 8) {  // the compact row of a summary key, or none
                const int m = compact_key(S, h, row);
                has = m >= 0;
                src = bhz * S.k_len + m;
            }
#endif
#pragma unroll
            for (int j = 0; j < DQK / 8; ++j) ck[a][j] = has ? *(const float2*)(dk + src * DQK + j * 8 + c2) : make_float2(0.f, 0.f);
#pragma unroll
            for (int j = 0; j < DV / 8; ++j) cv[a][j] = has ? *(const float2*)(dv + src * DV + j * 8 + c2) : make_float2(0.f, 0.f);
        }
#pragma unroll
        for (int a = 0; a < AHEAD; ++a) {
            const i64 row = rows[i0 + a];
            if (row < 0) continue;
            finish_row<DQK>(dk + (bh + row) * DQK, dk_out + (bh + row) * DQK, dka, i0 + a, dk_mult, lane, mode, ck[a]);
            finish_row<DV>(dv + (bh + row) * DV, dv_out + (bh + row) * DV, dva, i0 + a, dv_mult, lane, mode, cv[a]);
        }
    }
#else
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const i64 row = krow(warp * 16 + (lane >> 2) + 8 * i);
        if (row < 0) continue;
        finish_row<DQK>(dk + (bh + row) * DQK, dk_out + (bh + row) * DQK, dka, i, dk_mult, lane, mode);
        finish_row<DV>(dv + (bh + row) * DV, dv_out + (bh + row) * DV, dva, i, dv_mult, lane, mode);
    }
#endif
}
#if SA_VERSION >= 24
// Version 24: the merged fixed pattern's two dK/dV parts in one launch (`sa_backward_dkdv_pair_tma_wg`),
// so that the own blocks' short, latency-bound blocks run beside the summary part's long ones
// instead of in a launch of their own after them. A summary key then gets its two shares from
// two blocks that run in any order, and settles them by an arrival count of its own (`arrivals`,
// zeroed by the host): the block that takes ticket 0 stores its share in fp32 (the compact
// buffers `dk`, `dv`, row m) and then counts again (1 -> 2, or 2 -> 3 if the other block has
// come meanwhile); the block that takes ticket 1 or 2 adds that share to its own and writes the
// final gradients, after waiting, with ticket 1, for the count to reach 3 (the other block is
// running: it took its ticket first, and nothing it does before its second count waits). Keys
// that are no summary key (`pair_of` gives -1) are final at once. One lane of each row's quad
// counts for the row.
__device__ __forceinline__ int load_acquire(const int* p) {
    int v;
    asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
template <typename KeyRow, typename PairOf>
__device__ __forceinline__ void settle_key_rows(float* dk, float* dv, elem* dk_out, elem* dv_out, const float (&dka)[DQK / 8][4], const float (&dva)[DV / 8][4], i64 bh, KeyRow krow, PairOf pair_of, int* arrivals, float scale,
                                                int warp, int lane) {
    const float dv_mult = 1.f / scale;  // (dS and P came times the scale, version 19)
    const int c2 = (lane & 3) * 2, quad = lane & ~3, mine = lane & 3;
    i64 row[2], m[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int r = warp * 16 + (lane >> 2) + 8 * i;
        row[i] = krow(r);
        m[i] = row[i] >= 0 ? pair_of(r, row[i]) : -1;
    }
    const i64 my_m = mine == 0 ? m[0] : m[1];  // the row lane `mine` (0 or 1) counts for
    int ticket = -1;
    if (mine < 2 && my_m >= 0) ticket = atomicAdd(arrivals + my_m, 1);
    const int tk[2] = {__shfl_sync(0xffffffff, ticket, quad), __shfl_sync(0xffffffff, ticket, quad + 1)};
    const float2 zk[DQK / 8] = {}, zv[DV / 8] = {};
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        if (row[i] < 0 || tk[i] > 0) continue;
        const int md = m[i] < 0 ? 3 : 1;  // final at once, or the first share, stored in fp32
        finish_row<DQK>(dk + m[i] * DQK, dk_out + (bh + row[i]) * DQK, dka, i, 1.f, lane, md, zk);
        finish_row<DV>(dv + m[i] * DV, dv_out + (bh + row[i]) * DV, dva, i, dv_mult, lane, md, zv);
    }
    __threadfence();  // the shares above are visible to the whole GPU before the count says so
    __syncwarp();
    if (ticket == 0) atomicAdd(arrivals + my_m, 1);
    if (ticket == 1)
        while (load_acquire(arrivals + my_m) < 3) {
        }
    if (ticket > 0) __threadfence();
    __syncwarp();
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        if (row[i] < 0 || tk[i] <= 0) continue;
        float2 ck[DQK / 8], cv[DV / 8];
#pragma unroll
        for (int j = 0; j < DQK / 8; ++j) ck[j] = __ldcg((const float2*)(dk + m[i] * DQK + j * 8 + c2));
#pragma unroll
        for (int j = 0; j < DV / 8; ++j) cv[j] = __ldcg((const float2*)(dv + m[i] * DV + j * 8 + c2));
        finish_row<DQK>(dk + m[i] * DQK, dk_out + (bh + row[i]) * DQK, dka, i, 1.f, lane, 2, ck);
        finish_row<DV>(dv + m[i] * DV, dv_out + (bh + row[i]) * DV, dva, i, dv_mult, lane, 2, cv);
    }
}
#endif
// The end of a dK/dV block of part P (its keys m0 ..; krow(r): the sequence's row of key r,
// or -1; bh: the first row of batch b, head h): `finish_key_rows` on those rows, or, in
// version 23's compact mode (bit 2), on the part's own key index; version 24's pairs (bit 4):
// `settle_key_rows`, the summary part's key r being compact row m0 + r (bit 2), an own-block
// key its `compact_key`, if any.
#if SA_VERSION >= 24
#define END_S_PARAM , const Part& S, int* arrivals
#define END_S_ARG , S, arrivals
#elif SA_VERSION >= 23
#define END_S_PARAM , const Part& S
#define END_S_ARG , S
#else
#define END_S_PARAM
#define END_S_ARG
#endif
template <bool PAIRS = false, typename KeyRow>
__device__ __forceinline__ void end_key_block(float* dk, float* dv, elem* dk_out, elem* dv_out, const float (&dka)[DQK / 8][4], const float (&dva)[DV / 8][4], i64 bh, const Part& P, int b, int H, int h, int m0, KeyRow krow,
                                              float scale, int warp, int lane, int mode END_S_PARAM) {
#if SA_VERSION >= 24
    if (PAIRS && (mode & 16)) {  // (compiled into the pair kernel only)
        const i64 bhz = (i64)b * H + h;  // head (b, h)'s compact rows start at bhz S.k_len
        if (mode & 4) settle_key_rows(dk, dv, dk_out, dv_out, dka, dva, bh, krow, [&](int r, i64) -> i64 { return bhz * S.k_len + m0 + r; }, arrivals, scale, warp, lane);
        else
            settle_key_rows(dk, dv, dk_out, dv_out, dka, dva, bh, krow, [&](int, i64 row) -> i64 {
                const int m = compact_key(S, h, row);
                return m >= 0 ? bhz * S.k_len + m : -1; }, arrivals, scale, warp, lane);
        return;
    }
#endif
#if SA_VERSION >= 23
    if (mode & 4) {
        finish_key_rows(dk, dv, dk_out, dv_out, dka, dva, ((i64)b * H + h) * P.k_len, [&](int r) -> i64 { return m0 + r < P.k_len ? m0 + r : -1; }, scale, warp, lane, mode COMPACT_ARG);
        return;
    }
#endif
    finish_key_rows(dk, dv, dk_out, dv_out, dka, dva, bh, krow, scale, warp, lane, mode COMPACT_ARG);
}
#if SA_VERSION >= 24
#define DKDV_OUT , elem *dk_out, elem *dv_out, int mode, Part S, int *arrivals
#define DKDV_OUT_ARG , dk_out, dv_out, mode, S, arrivals
#elif SA_VERSION >= 23
#define DKDV_OUT , elem *dk_out, elem *dv_out, int mode, Part S
#define DKDV_OUT_ARG , dk_out, dv_out, mode, S
#else
#define DKDV_OUT , elem *dk_out, elem *dv_out, int mode
#define DKDV_OUT_ARG , dk_out, dv_out, mode
#endif
#else
#define DKDV_OUT
#define DKDV_OUT_ARG
#endif
