// sparse_attention_common.cuh: what every version of the fused sparse attention shares past
// the pattern geometry of sparse_attention_parts.cuh (which comes first): tensor-core
// fragments and warp products (the per-tile steps follow in sparse_attention_steps.cuh, the
// small per-row kernels in sparse_attention_rows.cuh). Each version file (sparse_attention.cu: v1 and v2;
// sparse_attention_v3.cu: v3 and later) is compiled with the headers in front of it.
//
// Fused attention over the factorized patterns, FlashAttention-2 style, on tensor cores
// (mma.sync m16n8k16, bf16 or fp16 inputs, fp32 accumulation). CPU reference: the masked
// attention of `kernels::attention` (tensor op `attention`). The n x n score matrix is never
// stored; a launch handles one part of a pattern (sparse_attention_parts.cuh), walking only
// the key tiles between lo(first query) and hi(last query) of each query tile.
//
// A merged pattern is two parts; each writes its normalised output and log-sum-exp in fp32,
// and `sa_combine` merges them: lse = log(sum_k exp(lse_k)), out = sum_k exp(lse_k - lse) o_k
// (from v9 the parts merge in place instead). The backward needs only the final lse and D =
// rowsum(dO * O), so each part's backward runs on its own: dS = P * (dP - D) with P =
// exp(S - lse). Gradients accumulate in fp32 buffers; up to v3 each row is owned by one block
// per launch (bit-reproducible), from v4 dQ is added with atomics (reproducible to rounding).
//
// Specialisation (-D): ELEM_TYPE (__nv_bfloat16 or __half), DQK and DV (head widths: 32, 64
// or 128), SA_VERSION (the kernel version; each one's change and times: the host's
// `kernels::cuda::sparse_attention::version` and benches/RESULTS.md).

#ifndef DQK
#define DQK 64
#endif
#ifndef DV
#define DV 64
#endif
#define BQ 64
#define BK 64
#define NTHREADS 128
#define LDQ (DQK + 8)  // shared-memory row strides (elements), padded against bank conflicts
#define LDV (DV + 8)
#define LOG2E 1.4426950408889634f

// Version 19: the backward's probabilities come out times the softmax scale, P' = scale P =
// exp2(S sl2 - (lse log2(e) - log2(scale))): the same one FFMA a score (`ds_from_scores`'s
// `lse_bias`, -log2(scale)), so dS' = P' (dP - D) = scale dS. Then dQ = dS' K and dK = dS'^T Q
// need no scaling, and the dK/dV kernels' dQ tiles lose their multiplies (32 a thread per tile
// in the wgmma kernel, 16 in the mma.sync one); dV = P'^T dO / scale, once per block at the
// end (instead of dK's scaling there).
#if SA_VERSION >= 19
#define DQ_SCALE(scale) 1.f
#define LSE_BIAS(scale) (-log2f(scale))
#else
#define DQ_SCALE(scale) (scale)
#define LSE_BIAS(scale) 0.f
#endif
#define LN2 0.6931471805599453f

// Version 29: every launch of a backward after its first, and every forward part after the
// first, starts early (programmatic dependent launch: `after_previous_grid` in common.cuh) and
// waits for the launch before it only where it first needs that launch's writes: the row-dot
// and the dQ cast at once; a dK/dV launch after the row-dot before its first statistics (its
// K and V tiles already on the way); a later dK/dV part (mode bit 32) only before it adds to
// the earlier parts' dK and dV rows; a later forward part only before its merge.
#if SA_VERSION >= 29
#define SA_AFTER_PREVIOUS_GRID() after_previous_grid()
#else
#define SA_AFTER_PREVIOUS_GRID() \
    do {                         \
    } while (0)
#endif

// ---------------------------------------------------------------- tensor-core primitives

template <typename T> struct Mma;
template <> struct Mma<__nv_bfloat16> {
    static __device__ __forceinline__ void run(float c[4], const unsigned a[4], const unsigned b[2]) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    static __device__ __forceinline__ unsigned pack(float x, float y) {
        __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
        return *(unsigned*)&v;
    }
    // (version 30) the larger of two packed pairs, elementwise; 256 as an element's bits
    static __device__ __forceinline__ unsigned max2(unsigned a, unsigned b) {
        unsigned r;
        asm("max.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
        return r;
    }
    static __device__ __forceinline__ constexpr unsigned bits_256() { return 0x4380; }
};
template <> struct Mma<__half> {
    static __device__ __forceinline__ void run(float c[4], const unsigned a[4], const unsigned b[2]) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    static __device__ __forceinline__ unsigned pack(float x, float y) {
        __half2 v = __floats2half2_rn(x, y);
        return *(unsigned*)&v;
    }
    static __device__ __forceinline__ unsigned max2(unsigned a, unsigned b) {
        unsigned r;
        asm("max.f16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
        return r;
    }
    static __device__ __forceinline__ constexpr unsigned bits_256() { return 0x5C00; }
};
typedef Mma<elem> MMA;

// Two consecutive elements of a shared-memory row, as one register.
__device__ __forceinline__ unsigned ld2(const elem* p) { return *(const unsigned*)p; }
// Two elements of one column in consecutive rows (stride ld), as one register.
__device__ __forceinline__ unsigned ld2_col(const elem* p, int ld) {
    unsigned lo = *(const unsigned short*)p, hi = *(const unsigned short*)(p + ld);
    return lo | (hi << 16);  // the lower-index element in the low half, as mma expects
}

// A fragment (16 x 16, row-major) of rows r0 and r0 + 8 of a shared tile, columns k0..k0+15.
__device__ __forceinline__ void frag_a(unsigned a[4], const elem* tile, int ld, int r0, int k0, int lane) {
    int g = lane >> 2, c = (lane & 3) * 2;
    a[0] = ld2(tile + (r0 + g) * ld + k0 + c);
    a[1] = ld2(tile + (r0 + g + 8) * ld + k0 + c);
    a[2] = ld2(tile + (r0 + g) * ld + k0 + 8 + c);
    a[3] = ld2(tile + (r0 + g + 8) * ld + k0 + 8 + c);
}
// B fragment (16 x 8) = rows n0..n0+7 of a shared tile, transposed (B[k][n] = tile[n0+n][k0+k]).
__device__ __forceinline__ void frag_bt(unsigned b[2], const elem* tile, int ld, int n0, int k0, int lane) {
    int g = lane >> 2, c = (lane & 3) * 2;
    b[0] = ld2(tile + (n0 + g) * ld + k0 + c);
    b[1] = ld2(tile + (n0 + g) * ld + k0 + 8 + c);
}
// B fragment (16 x 8) = a shared tile as is (B[k][n] = tile[k0+k][n0+n]).
__device__ __forceinline__ void frag_b(unsigned b[2], const elem* tile, int ld, int k0, int n0, int lane) {
    int g = lane >> 2, c = (lane & 3) * 2;
    b[0] = ld2_col(tile + (k0 + c) * ld + n0 + g, ld);
    b[1] = ld2_col(tile + (k0 + 8 + c) * ld + n0 + g, ld);
}
// Version 2 loads fragments with ldmatrix: one instruction moves four 8 x 8 tiles, where
// version 1 issues a 32-bit (or two 16-bit) shared load per register.
__device__ __forceinline__ void ldsm_x4(unsigned r[4], const elem* p) {
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}
__device__ __forceinline__ void ldsm_x4_trans(unsigned r[4], const elem* p) {
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

// The A fragment of rows r0..r0+15, columns k0..k0+15.
__device__ __forceinline__ void frag_a_v(unsigned a[4], const elem* tile, int ld, int r0, int k0, int lane) {
#if SA_VERSION >= 2
    int mi = lane >> 3;  // lanes 8 mi .. 8 mi + 7 address the rows of matrix mi
    ldsm_x4(a, tile + (r0 + (lane & 7) + (mi & 1) * 8) * ld + k0 + (mi >> 1) * 8);
#else
    frag_a(a, tile, ld, r0, k0, lane);
#endif
}
// Two B fragments (n-tiles n0 and n0 + 8) of a tile read transposed: b[0..1], b[2..3].
__device__ __forceinline__ void frag_bt2(unsigned b[4], const elem* tile, int ld, int n0, int k0, int lane) {
#if SA_VERSION >= 2
    int mi = lane >> 3;
    ldsm_x4(b, tile + (n0 + (lane & 7) + (mi >> 1) * 8) * ld + k0 + (mi & 1) * 8);
#else
    frag_bt(b, tile, ld, n0, k0, lane);
    frag_bt(b + 2, tile, ld, n0 + 8, k0, lane);
#endif
}
// Two B fragments (n-tiles n0 and n0 + 8) of a tile read as is.
__device__ __forceinline__ void frag_b2(unsigned b[4], const elem* tile, int ld, int k0, int n0, int lane) {
#if SA_VERSION >= 2
    int mi = lane >> 3;
    ldsm_x4_trans(b, tile + (k0 + (lane & 7) + (mi & 1) * 8) * ld + n0 + (mi >> 1) * 8);
#else
    frag_b(b, tile, ld, k0, n0, lane);
    frag_b(b + 2, tile, ld, k0, n0 + 8, lane);
#endif
}

// An A fragment from accumulator registers x[2t], x[2t+1] (rows g, g+8; 16 columns).
__device__ __forceinline__ void frag_regs(unsigned a[4], const float x0[4], const float x1[4]) {
    a[0] = MMA::pack(x0[0], x0[1]);
    a[1] = MMA::pack(x0[2], x0[3]);
    a[2] = MMA::pack(x1[0], x1[1]);
    a[3] = MMA::pack(x1[2], x1[3]);
}

// Where the 16-byte vector v of row r of a shared tile goes (elements): rows of stride LD
// (padded against bank conflicts, for ldmatrix), or, with SWZ (version 14's wgmma tiles: 64
// elements = 128 bytes a row, no padding), the 128-byte swizzle: vector v ^ (r % 8).
template <int LD, bool SWZ>
__device__ __forceinline__ int tile_offset(int r, int v) {
    return SWZ ? r * 64 + ((v ^ (r & 7)) << 3) : r * LD + v * 8;
}

// Copies `rows` rows of width W from global (row r at base + row_index(r) * st) into a shared
// tile (stride LD), zero-filling rows whose index is -1. 16-byte vectors.
template <int W, int LD>
__device__ __forceinline__ void load_tile(elem* tile, const elem* base, const i64* row_idx, i64 st) {
    constexpr int VEC = 8, PER_ROW = W / VEC;
    for (int i = threadIdx.x; i < 64 * PER_ROW; i += NTHREADS) {
        int r = i / PER_ROW, v = i % PER_ROW;
        Pack val;
        i64 row = row_idx[r];
        if (row >= 0) {
            val = *(const Pack*)(base + row * st + v * VEC);
        } else {
#pragma unroll
            for (int e = 0; e < VEC; ++e) val.v[e] = from_f<elem>(0.f);
        }
        *(Pack*)(tile + r * LD + v * VEC) = val;
    }
}

// ---------------------------------------------------------------- warp products
// A warp owns 16 rows of its tiles (rows r0 .. r0 + 15) and 8 x 4 or (W / 8) x 4 accumulator
// registers (mma's C layout: registers e = 0, 1 in row g, e = 2, 3 in row g + 8).

// acc[mt] = A B^T: A the warp's rows r0 + 16 mt .. + 15 of a shared tile (width W), B all 64
// rows of another (width W). 16 x 64 per m-tile, e.g. S = Q K^T or dP = dO V^T. With MT > 1
// (version 7's forward) each B fragment read from shared memory feeds MT products.
template <int MT, int W, int LDA, int LDB>
__device__ __forceinline__ void warp_abt_m(float (&acc)[MT][8][4], const elem* A, int r0, const elem* B, int lane) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[mt][j][0] = acc[mt][j][1] = acc[mt][j][2] = acc[mt][j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < W; kk += 16) {
        unsigned a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) frag_a_v(a[mt], A, LDA, r0 + 16 * mt, kk, lane);
#pragma unroll
        for (int j = 0; j < 8; j += 2) {
            unsigned bb[4];
            frag_bt2(bb, B, LDB, j * 8, kk, lane);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                MMA::run(acc[mt][j], a[mt], bb);
                MMA::run(acc[mt][j + 1], a[mt], bb + 2);
            }
        }
    }
}

// acc[mt] += X[mt] B: X the warp's 16 x 64 registers per m-tile (rounded to the input type, as
// FlashAttention does with P), B a 64 x W shared tile. E.g. O += P V or dQ += dS K.
template <int MT, int W, int LDB>
__device__ __forceinline__ void warp_xb_m(float (&acc)[MT][W / 8][4], const float (&x)[MT][8][4], const elem* B, int lane) {
#pragma unroll
    for (int t = 0; t < 4; ++t) {
        unsigned a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) frag_regs(a[mt], x[mt][2 * t], x[mt][2 * t + 1]);
#pragma unroll
        for (int j = 0; j < W / 8; j += 2) {
            unsigned bb[4];
            frag_b2(bb, B, LDB, t * 16, j * 8, lane);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                MMA::run(acc[mt][j], a[mt], bb);
                MMA::run(acc[mt][j + 1], a[mt], bb + 2);
            }
        }
    }
}

// One m-tile (rows r0 .. r0 + 15): the warp products of every other kernel.
template <int W, int LDA, int LDB>
__device__ __forceinline__ void warp_abt(float (&acc)[8][4], const elem* A, int r0, const elem* B, int lane) {
    warp_abt_m<1, W, LDA, LDB>(reinterpret_cast<float (&)[1][8][4]>(acc), A, r0, B, lane);
}
template <int W, int LDB>
__device__ __forceinline__ void warp_xb(float (&acc)[W / 8][4], const float (&x)[8][4], const elem* B, int lane) {
    warp_xb_m<1, W, LDB>(reinterpret_cast<float (&)[1][W / 8][4]>(acc), reinterpret_cast<const float (&)[1][8][4]>(x), B, lane);
}
