// common.cuh: prepended to every kernel source before NVRTC compiles it.
//
// Each module is specialised with -D defines:
//   ELEM_TYPE  the element type of data buffers (float, __nv_bfloat16, __half, int, unsigned char)
//   IDX_TYPE   the integer type of index buffers (int or unsigned char), where a kernel reads ids
//   SRC_TYPE   the source type of the cast kernel
// Arithmetic is always in fp32 (`to_f` / `from_f`), which is how half-precision data keeps
// fp32 accumulation and fp32 statistics.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

// NVRTC has no <math.h> macros.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

#ifndef ELEM_TYPE
#define ELEM_TYPE float
#endif
#ifndef IDX_TYPE
#define IDX_TYPE int
#endif
typedef ELEM_TYPE elem;
typedef IDX_TYPE idx_t;
typedef long long i64;
typedef unsigned long long u64;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(double x) { return (float)x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(int x) { return (float)x; }
__device__ __forceinline__ float to_f(unsigned char x) { return (float)x; }

template <typename U> __device__ __forceinline__ U from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ double from_f<double>(float x) { return (double)x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ int from_f<int>(float x) { return (int)x; }
template <> __device__ __forceinline__ unsigned char from_f<unsigned char>(float x) { return (unsigned char)x; }

// 16-byte packs of elements: one vector load or store moves PACK elements. Contiguous kernels
// walk their data in packs when the pointers are 16-byte aligned and finish with a scalar tail.
#define PACK ((int)(16 / sizeof(elem)))
struct __align__(16) Pack { elem v[16 / sizeof(elem)]; };
__device__ __forceinline__ bool aligned16(const void* p) { return ((u64)p & 15) == 0; }

// Rows of up to 32 * PACK * ROW_PACKS elements are held in registers by the row kernels
// (softmax, LayerNorm): one read and one write of global memory per element. The launcher
// compiles the smallest ROW_PACKS (1, 2, 4 or 8) that holds the row: fewer registers per
// thread, more warps in flight.
#ifndef ROW_PACKS
#define ROW_PACKS 8
#endif

// Loads row `xr` (length n, packed layout) into buf: lane owns packs lane, lane + 32, ...
__device__ __forceinline__ void load_row(const elem* xr, i64 n, int lane, Pack buf[ROW_PACKS]) {
#pragma unroll
    for (int t = 0; t < ROW_PACKS; ++t) {
        i64 j0 = ((i64)lane + 32 * t) * PACK;
        if (j0 < n) buf[t] = *(const Pack*)(xr + j0);
    }
}

// Up to 8 dimensions of shape or strides, passed by value.
struct Dims8 { i64 v[8]; };

// Offset of the element with linear (row-major) index `i` in a strided view.
__device__ __forceinline__ i64 strided_offset(i64 i, const Dims8& shape, const Dims8& strides, int ndim, i64 offset) {
    i64 off = offset;
    for (int d = ndim - 1; d >= 0; --d) {
        i64 n = shape.v[d];
        off += (i % n) * strides.v[d];
        i /= n;
    }
    return off;
}

// Grid-stride loop over n elements.
#define FOR_EACH(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// Programmatic dependent launch (compute capability 9.0 on). A kernel the host launches with
// the programmatic-serialization attribute (`cuda::early_launch`) may start while the kernel
// before it in the stream still runs: its blocks take the slots that kernel's last blocks free,
// and do their set-up there. `after_previous_grid` is where such a kernel stops to wait: it
// returns once the previous grid has finished and its writes are visible, then lets the next
// kernel of the stream start early in turn. Before it, a kernel may only read what was complete
// before the previous kernel started and write nothing that a running kernel reads. Without
// the attribute both instructions do nothing.
__device__ __forceinline__ void after_previous_grid() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Block-wide sum and max of one float per thread (blockDim.x a multiple of 32, <= 1024).
// Deterministic: a fixed tree over a fixed block size.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}
__device__ float block_sum(float v) {
    __shared__ float shared[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int nwarps = (blockDim.x + 31) >> 5;
    v = (threadIdx.x < nwarps) ? shared[threadIdx.x] : 0.0f;
    if (warp == 0) v = warp_sum(v);
    if (threadIdx.x == 0) shared[0] = v;
    __syncthreads();
    return shared[0];
}
__device__ float block_max(float v) {
    __shared__ float shared[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int nwarps = (blockDim.x + 31) >> 5;
    v = (threadIdx.x < nwarps) ? shared[threadIdx.x] : -INFINITY;
    if (warp == 0) v = warp_max(v);
    if (threadIdx.x == 0) shared[0] = v;
    __syncthreads();
    return shared[0];
}

// Philox-4x32-10, bit-identical to kernels::philox on the CPU: element i uses counter block
// i / 4 and lane i % 4.
__device__ __forceinline__ void philox4x32(unsigned int c[4], unsigned int k0, unsigned int k1) {
    for (int r = 0; r < 10; ++r) {
        if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        unsigned int hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        unsigned int n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
    }
}
__device__ __forceinline__ void philox_block(u64 seed, u64 block, unsigned int out[4]) {
    out[0] = (unsigned int)block; out[1] = (unsigned int)(block >> 32); out[2] = 0; out[3] = 0;
    philox4x32(out, (unsigned int)seed, (unsigned int)(seed >> 32));
}
// Uniform in [0, 1) with 24 random bits, as on the CPU.
__device__ __forceinline__ double to_unit(unsigned int bits) { return (double)(bits >> 8) * (1.0 / 16777216.0); }
__device__ __forceinline__ double uniform_at(u64 seed, u64 i) {
    unsigned int b[4];
    philox_block(seed, i / 4, b);
    return to_unit(b[i % 4]);
}
__device__ __forceinline__ double normal_at(u64 seed, u64 i) {
    unsigned int b[4];
    philox_block(seed, i / 4, b);
    int lane = (int)(i % 4), pair = lane & ~1;
    double u1 = to_unit(b[pair]) + 1.0 / 16777216.0, u2 = to_unit(b[pair + 1]);
    double r = sqrt(-2.0 * log(u1)), theta = 6.283185307179586 * u2;
    return (lane & 1) == 0 ? r * cos(theta) : r * sin(theta);
}
