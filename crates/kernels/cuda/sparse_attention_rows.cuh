// sparse_attention_rows.cuh: the fused sparse attention's small per-row kernels, shared by
// every version (compiled after sparse_attention_steps.cuh): the merge of the parts' outputs
// (`sa_combine`; from version 9 only after a last part that misses rows) and the backward's
// row-dot D = rowsum(dO * O).

// Merges the parts of each row: lse = log sum exp(lse_k), out = sum exp(lse_k - lse) o_k.
// One warp per row. out: [B, H, n, DV] (strides so), lse: [B, H, n].
extern "C" __global__ void sa_combine(const float* o_parts, const float* lse_parts, int n_parts, i64 rows, int H, int n, elem* out, Str3 so, float* lse) {
    i64 r = (i64)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    float mx = -INFINITY;
    for (int k = 0; k < n_parts; ++k) mx = fmaxf(mx, lse_parts[k * rows + r]);
    float total = 0.f;
    for (int k = 0; k < n_parts; ++k) total += mx == -INFINITY ? 0.f : expf(lse_parts[k * rows + r] - mx);
    float l = mx == -INFINITY ? -INFINITY : mx + logf(total);
    i64 bh = r / n, t = r % n;
    elem* dst = out + (bh / H) * so.b + (bh % H) * so.h + t * so.t;
    for (int c = lane; c < DV; c += 32) {
        float acc = 0.f;
        for (int k = 0; k < n_parts; ++k) {
            float lk = lse_parts[k * rows + r];
            if (lk != -INFINITY) acc += expf(lk - l) * o_parts[(k * rows + r) * DV + c];
        }
        dst[c] = from_f<elem>(acc);
    }
    if (lane == 0) lse[r] = l;
}

// D = rowsum(dO * O), fp32, one warp per row (versions 1-12).
extern "C" __global__ void sa_rowdot(const elem* dout, Str3 sd, const elem* out, Str3 so, i64 rows, int H, int n, float* d) {
    i64 r = (i64)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    i64 bh = r / n, t = r % n;
    const elem* a = dout + (bh / H) * sd.b + (bh % H) * sd.h + t * sd.t;
    const elem* o = out + (bh / H) * so.b + (bh % H) * so.h + t * so.t;
    float acc = 0.f;
    for (int c = lane; c < DV; c += 32) acc += to_f(a[c]) * to_f(o[c]);
    for (int w = 16; w > 0; w >>= 1) acc += __shfl_xor_sync(0xffffffff, acc, w);
    if (lane == 0) d[r] = acc;
}

// Version 13: D = rowsum(dO * O) with 16-byte loads, DV / 8 threads a row (the warp-a-row
// kernel above loads one element a lane: with 32-wide heads, 2 of every 32 bytes a lane could
// move, and it ran 4x slower than its traffic allows). 256 threads a block.
__device__ __forceinline__ void rowdot_packed(const elem* dout, Str3 sd, const elem* out, Str3 so, int rows, int H, int n, float* d) {
    constexpr int G = DV / 8;  // threads per row: a group of lanes inside one warp
    const int tid = blockIdx.x * blockDim.x + threadIdx.x, r = tid / G, c = (tid % G) * 8;
    float acc = 0.f;
    if (r < rows) {
        const int bh = r / n, t = r % n, b = bh / H, h = bh % H;
        const uint4 a = *reinterpret_cast<const uint4*>(dout + b * sd.b + h * sd.h + t * sd.t + c);
        const uint4 o = *reinterpret_cast<const uint4*>(out + b * so.b + h * so.h + t * so.t + c);
        const elem* ae = reinterpret_cast<const elem*>(&a);
        const elem* oe = reinterpret_cast<const elem*>(&o);
        for (int i = 0; i < 8; ++i) acc += to_f(ae[i]) * to_f(oe[i]);
    }
    for (int w = G / 2; w > 0; w >>= 1) acc += __shfl_xor_sync(0xffffffff, acc, w);
    if (r < rows && c == 0) d[r] = acc;
}
extern "C" __global__ void sa_rowdot_packed(const elem* dout, Str3 sd, const elem* out, Str3 so, int rows, int H, int n, float* d) {
    rowdot_packed(dout, sd, out, so, rows, H, n, d);
}
#if SA_VERSION >= 28
// zero[0 .. count) = 0 (16-byte aligned), spread over the whole grid.
__device__ __forceinline__ void zero_fill(float* zero, i64 count) {
    const i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x, threads = (i64)gridDim.x * blockDim.x;
    float4* z4 = reinterpret_cast<float4*>(zero);
    for (i64 j = tid; j < count / 4; j += threads) z4[j] = make_float4(0.f, 0.f, 0.f, 0.f);
    for (i64 j = count / 4 * 4 + tid; j < count; j += threads) zero[j] = 0.f;
}
// Version 28: `sa_rowdot_packed`, and in the same pass the zero fill of the backward's fp32 dQ
// accumulator (`zero`: `count` floats, 16-byte aligned), which was a memset of its own before
// it: one launch where there were two, the loads of dO and O in flight beside the stores.
extern "C" __global__ void sa_rowdot_zero(const elem* dout, Str3 sd, const elem* out, Str3 so, int rows, int H, int n, float* d, float* zero, i64 count) {
    SA_AFTER_PREVIOUS_GRID();  // (version 29: launched early; O and dO come from earlier kernels)
    rowdot_packed(dout, sd, out, so, rows, H, n, d);
    zero_fill(zero, count);
}
#endif
#if SA_VERSION >= 31
// Version 31: `sa_rowdot_zero`, and each row's log-sum-exp as the dK/dV kernels use it, in
// log2 units with version 19's bias: lse2 = lse log2(e) - log2(scale). Each dK/dV step did
// that for each of its thread's 16 queries (16 multiply-adds a thread a step, every query
// tile as often as key tiles see it); here it is once a row.
extern "C" __global__ void sa_rowdot_zero_lse(const elem* dout, Str3 sd, const elem* out, Str3 so, int rows, int H, int n, float* d, float* zero, i64 count, const float* lse, float scale, float* lse2) {
    SA_AFTER_PREVIOUS_GRID();
    rowdot_packed(dout, sd, out, so, rows, H, n, d);
    const int tid = blockIdx.x * blockDim.x + threadIdx.x;
    if (tid < rows) lse2[tid] = fmaf(lse[tid], LOG2E, LSE_BIAS(scale));
    zero_fill(zero, count);
}
#endif
