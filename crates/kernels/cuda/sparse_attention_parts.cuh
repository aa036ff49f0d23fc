// sparse_attention_parts.cuh: the pattern geometry of the fused sparse attention, first in
// the text of every version. A launch handles one "part" of a pattern (the host builds them:
// `SaPart` in kernels/src/sparse_attention.rs, whose CPU mirror of this arithmetic the tests
// check against every pattern's mask), which is always the same shape of problem: queries
// and keys taken from the sequence by index arithmetic, and query p seeing the keys m with
// lo(p) <= m <= hi(p). With that one shape:
//   dense causal            one sequence, hi(p) = p;
//   strided, local part     one sequence, lo(p) = p - l + 1;
//   strided, column part    l sequences (one per column, query/key rows c, c + l, c + 2l...),
//                           hi(p) = p: row attention on the transposed [n/l, l] matrix
//                           (v11: short columns packed several to a sequence);
//   fixed, own block        n/l sequences of l, hi(p) = p;
//   fixed, summary part     keys gathered into a compact set (c per block, at the head's
//                           summary sub-block), hi(p) = number of summary keys <= p, minus 1.

#ifndef SA_VERSION
#define SA_VERSION 1
#endif

// One part of a pattern. All ints; the host struct `SaPart` has the same fields in order.
struct Part {
    int n;                       // rows per (batch, head)
    int n_seq;                   // sub-sequences
    int q_len, q_seq, q_step;    // query p of sequence s: row s*q_seq + p*q_step
    int k_len, k_seq, k_group, k_gstride, k_step;  // key m: s*k_seq + (m/k_group)*k_gstride + (m%k_group)*k_step + off(h)
    int off_base, off_mult, off_mod;               // off(h) = off_base - off_mult * (h % off_mod)
    int vis_a, vis_c, vis_d, vis_d_is_off, excl;   // hi(p) = (p/a)*c + clamp(p%a - d + 1, 0, c) - 1 - excl
    int window;                  // lo(p) = p - window + 1 (0: no lower bound)
    int head_start, head_step, heads;              // the heads of this launch
    int q_group, q_gstride, seg;  // v11 packed columns: query p of sequence s at row
                                  // s*q_seq + (p/q_group)*q_gstride + (p%q_group)*q_step;
                                  // lo(p) >= (p/seg)*seg (INT_MAX: no grouping, no segments)
    unsigned recip[4];            // v18: ceil(2^32 / d) for d = vis_a, k_group, q_group, seg
                                  // (0: divide); see `quot`
};

#if SA_VERSION >= 18
// Version 18: the index arithmetic without integer divisions. A GPU has no divide
// instruction: x / d for a run-time d is ~20 instructions (a reciprocal in floating point,
// then corrections), and profiling the 32-wide-head kernels (ImageNet 64) showed half their
// instructions were integer ones, the divisions inside the row and bound functions of every
// tile among them, most of them by 1 (causal, local, column and own-block parts have
// vis_a = k_group = 1). Now d = 1 is a uniform branch, and any other d has its reciprocal
// from the host, r = ceil(2^32 / d): x / d = umulhi(x, r), exact whenever x d <= 2^32
// (x r / 2^32 = x / d + x e / (d 2^32) with e = r d - 2^32 < d, and the fraction of x / d
// is at most (d - 1) / d). The host (`SaPart::with_reciprocals`) sends r = 0, a division,
// where its bound on x does not hold.
__device__ __forceinline__ int quot(int x, int d, unsigned r) {
    if (d == 1) return x;
    if (r) return (int)__umulhi((unsigned)x, r);
    return x / d;
}
// x / P.field for the Part P in scope (i: the field's place in `recip`).
#define QUOT(x, field, i) quot((x), P.field, P.recip[i])
#else
#define QUOT(x, field, i) ((x) / P.field)
#endif

// Element strides of a [B, H, T, D] view (the last dimension is contiguous).
struct Str3 { i64 b, h, t; };

__device__ __forceinline__ int head_of(const Part& P, int hz) { return P.head_start + hz * P.head_step; }
__device__ __forceinline__ int off_of(const Part& P, int h) { return P.off_base - P.off_mult * (h % P.off_mod); }
__device__ __forceinline__ int hi_of(const Part& P, int p, int off) {
    int d = P.vis_d_is_off ? off : P.vis_d;
    const int blk = QUOT(p, vis_a, 0);
    int r = p - blk * P.vis_a - d + 1;
    r = r < 0 ? 0 : (r > P.vis_c ? P.vis_c : r);
    int hi = blk * P.vis_c + r - 1 - P.excl;
    return hi < P.k_len - 1 ? hi : P.k_len - 1;
}
#ifndef INT_MAX
#define INT_MAX 0x7fffffff
#endif
#if SA_VERSION >= 11
// Version 11 packs several short columns of the strided pattern into one sub-sequence (see
// `SaPart::packed_columns`): queries and keys come in groups of q_group (one column each), and
// a query sees only the keys of its own segment (column).
// Version 12 divides only for packed parts (a uniform branch): v11's divisions by INT_MAX in
// every part cost the unpacked ones 3-9%.
__device__ __forceinline__ int lo_of(const Part& P, int p) {
    const int lo = P.window > 0 ? max(0, p - P.window + 1) : 0;
#if SA_VERSION >= 12
    if (P.seg == INT_MAX) return lo;
#endif
    return max(lo, QUOT(p, seg, 3) * P.seg);
}
__device__ __forceinline__ i64 q_row(const Part& P, int s, int p) {
#if SA_VERSION >= 12
    if (P.q_group == INT_MAX) return (i64)s * P.q_seq + (i64)p * P.q_step;
#endif
    const int g = QUOT(p, q_group, 2);
    return (i64)s * P.q_seq + (i64)g * P.q_gstride + (i64)(p - g * P.q_group) * P.q_step;
}
#else
__device__ __forceinline__ int lo_of(const Part& P, int p) { return P.window > 0 ? max(0, p - P.window + 1) : 0; }
__device__ __forceinline__ i64 q_row(const Part& P, int s, int p) { return (i64)s * P.q_seq + (i64)p * P.q_step; }
#endif
__device__ __forceinline__ i64 k_row(const Part& P, int s, int m, int off) {
    const int g = QUOT(m, k_group, 1);
    return (i64)s * P.k_seq + (i64)g * P.k_gstride + (i64)(m - g * P.k_group) * P.k_step + off;
}
// Queries of sequence s whose row is inside the sequence.
__device__ __forceinline__ int q_count(const Part& P, int s) {
#if SA_VERSION >= 11
    if (P.q_group < P.q_len) return P.q_len;  // packed columns are packed only when all are full
#endif
#if SA_VERSION >= 18
    const int left = P.n - s * P.q_seq;  // (v18: in 32 bits; a 64-bit division is a call)
    if (left <= 0) return 0;
    const int c = P.q_step == 1 ? left : (left + P.q_step - 1) / P.q_step;
#else
    i64 left = (i64)P.n - (i64)s * P.q_seq;
    if (left <= 0) return 0;
    i64 c = (left + P.q_step - 1) / P.q_step;
#endif
    return c < P.q_len ? (int)c : P.q_len;
}

// The first query p of sequence positions [0, qc) with hi(p) >= m (hi is non-decreasing).
__device__ int first_query_seeing(const Part& P, int m, int off, int qc) {
#if SA_VERSION >= 18
    // Version 18: one key per query block (vis_a = vis_c = 1: every part but the summary) has
    // hi(p) = p + min(max(1 - d, 0), 1) - 1 - excl below the cap k_len - 1 >= m, so the first
    // query is m + excl + 1 - that, not a 14-step search (10% of the ImageNet dK/dV kernel).
    if (P.vis_a == 1 && P.vis_c == 1) {
        const int d = P.vis_d_is_off ? off : P.vis_d;
        const int p = m + P.excl + 1 - (d <= 0 ? 1 : 0);
        return p < 0 ? 0 : (p > qc ? qc : p);
    }
#endif
    int lo = 0, hi = qc;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (hi_of(P, mid, off) >= m) hi = mid; else lo = mid + 1;
    }
    return lo;
}

