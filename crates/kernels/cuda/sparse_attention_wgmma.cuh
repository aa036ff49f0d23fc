// sparse_attention_wgmma.cuh: Hopper's warpgroup matrix multiply (wgmma, sm_90a), the tensor-
// core primitives of version 14 (its kernels: sparse_attention_wgmma.cu, and the forward's
// wgmma path in sparse_attention_v3.cu). Compiled between the shared headers and the v3 file;
// defines SA_WGMMA when it applies (version 14 or later, 64-wide heads, compiled for sm_90a;
// from version 34 SA_WGMMA32 for 32-wide heads, sparse_attention_wgmma32.cu); other widths
// and GPUs run version 13's kernels (from 15 with its exponential and rescaling changes:
// `exp2_` and `softmax_tile` in sparse_attention_steps.cuh).
//
// Why: the v13 dK/dV kernel (mma.sync) keeps the tensor cores busy about a third of the time
// (H200 profile: 3 blocks of 4 warps an SM, each warp loading whole Q and dO tiles from shared
// memory into registers with ldmatrix for each of its 16-key products, and issue slots spent
// on those loads). A block of 128 threads is exactly one warpgroup: `wgmma.mma_async` reads
// both operands of a 64 x 64 x 16 product straight from shared memory (or A from registers),
// once for the whole warpgroup, and runs asynchronously. Its accumulator layout is the
// mma.sync one repeated over the 8-column groups (warp w holds rows 16w .. 16w + 15), so the
// softmax and softmax-gradient code between the products is shared with the earlier
// versions unchanged.
//
// Shared tiles: 64 rows x 64 elements, 128 bytes a row, 1024-byte aligned, in the 128-byte
// swizzle (`tile_offset<_, true>`: 16-byte vector v of row r at v ^ (r % 8)). The same tile
// serves as a K-major operand (contracting over its columns: S^T = K Q^T) and as an MN-major
// one (contracting over its rows: dV += P^T dO), only the descriptor's stepping differs.

// Version 34 compiles these primitives for 32-wide heads too (`SA_WGMMA32`: the kernels of
// sparse_attention_wgmma32.cu; `SA_WGMMA`'s kernels stay 64-wide).
#if SA_VERSION >= 14 && defined(__CUDA_ARCH_FEAT_SM90_ALL) && ((DQK == 64 && DV == 64) || (SA_VERSION >= 34 && DQK == 32 && DV == 32))
#if DQK == 64
#define SA_WGMMA 1
#else
#define SA_WGMMA32 1
#endif

// The shared-memory matrix descriptor of a swizzled tile: start address (16-byte units, bits
// 0-13), leading byte offset 16 (bits 16-29; unused by swizzled K-major operands, and by
// MN-major ones no wider than one 64-element swizzle atom, as here), stride byte offset 1024
// (bits 32-45: from one group of 8 rows, or 8 K-steps of an MN-major operand, to the next),
// 128-byte swizzle (bits 62-63 = 1). Stepping K by 16: K-major +32 bytes (+2), MN-major
// +16 rows = 2048 bytes (+128).
__device__ __forceinline__ u64 wg_desc(const elem* tile) {
    const unsigned addr = (unsigned)__cvta_generic_to_shared(tile);
    return (u64)((addr & 0x3FFFF) >> 4) | ((u64)1 << 16) | ((u64)(1024 >> 4) << 32) | ((u64)1 << 62);
}
#define WG_K_MAJOR_STEP 2
#define WG_MN_MAJOR_STEP 128

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory"); }
// Keeps the compiler from moving accesses of an accumulator across an asynchronous product.
__device__ __forceinline__ void wg_hold(float (&d)[8][4]) {
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
}
// Shared-memory writes by ordinary stores (or cp.async), made visible to wgmma's reads.
__device__ __forceinline__ void fence_async_shared() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }

template <typename T> struct elem_is_half { static constexpr bool value = false; };
template <> struct elem_is_half<__half> { static constexpr bool value = true; };

// d (+)= A B for one 64 x 64 x 16 step, A and B in shared memory (TA / TB: MN-major).
#define WG_SS(T) asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\nwgmma.mma_async.sync.aligned.m64n64k16.f32." T "." T " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, %35, %36;\n}\n" \
                              : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]) : "l"(da), "l"(db), "r"((int)accumulate), "n"(TA), "n"(TB))
template <int TA, int TB>
__device__ __forceinline__ void wg_ss(float (&d)[8][4], u64 da, u64 db, bool accumulate) {
    if constexpr (elem_is_half<elem>::value) WG_SS("f16");
    else WG_SS("bf16");
}
// d (+)= A B with A from registers (the mma.sync A fragment of the warp's 16 rows).
#define WG_RS(T) asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\nwgmma.mma_async.sync.aligned.m64n64k16.f32." T "." T " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n" \
                              : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"((int)accumulate), "n"(TB))
template <int TB>
__device__ __forceinline__ void wg_rs(float (&d)[8][4], const unsigned (&a)[4], u64 db, bool accumulate) {
    if constexpr (elem_is_half<elem>::value) WG_RS("f16");
    else WG_RS("bf16");
}

// S = A B^T over 64 columns (both tiles contracted over their columns: K-major).
__device__ __forceinline__ void wg_abt(float (&d)[8][4], const elem* A, const elem* B) {
    const u64 da = wg_desc(A), db = wg_desc(B);
#pragma unroll
    for (int k = 0; k < 4; ++k) wg_ss<0, 0>(d, da + k * WG_K_MAJOR_STEP, db + k * WG_K_MAJOR_STEP, k > 0);
}
// The warps' accumulator rows x (64 x 64 fp32) as the A fragments of four K-steps, packed to
// the element type once, before the products are issued (registers an in-flight wgmma reads
// must not be written: packing between the issues would make the compiler wait).
__device__ __forceinline__ void pack_rows(unsigned (&a)[4][4], const float (&x)[8][4]) {
#pragma unroll
    for (int k = 0; k < 4; ++k) frag_regs(a[k], x[2 * k], x[2 * k + 1]);
}
// d += X B, X given as packed A fragments, B contracted over its rows.
__device__ __forceinline__ void wg_xb(float (&d)[8][4], const unsigned (&a)[4][4], const elem* B) {
    const u64 db = wg_desc(B);
#pragma unroll
    for (int k = 0; k < 4; ++k) wg_rs<1>(d, a[k], db + k * WG_MN_MAJOR_STEP, true);
}
#if SA_VERSION >= 30
// Version 30: d (+)= A B over 8 columns (m64n8k16), A from registers, B K-major in shared
// memory: the forward's row sums, B a 1 KB tile of ones (one 128-byte swizzle atom, 8 rows of
// 64 elements; all its bits alike, so the swizzle cannot move anything).
#define WG_RS8(T) asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %9, 0;\nwgmma.mma_async.sync.aligned.m64n8k16.f32." T "." T " {%0, %1, %2, %3}, {%4, %5, %6, %7}, %8, p, 1, 1, 0;\n}\n" \
                               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"((int)accumulate))
__device__ __forceinline__ void wg_rs8(float (&d)[4], const unsigned (&a)[4], u64 db, bool accumulate) {
    if constexpr (elem_is_half<elem>::value) WG_RS8("f16");
    else WG_RS8("bf16");
}
// sums += X 1 (X as packed A fragments): every column of `sums` holds its rows' sums.
__device__ __forceinline__ void wg_sums(float (&sums)[4], const unsigned (&a)[4][4], const elem* ones) {
    const u64 db = wg_desc(ones);
#pragma unroll
    for (int k = 0; k < 4; ++k) wg_rs8(sums, a[k], db + k * WG_K_MAJOR_STEP, true);
}
__device__ __forceinline__ void wg_hold4(float (&d)[4]) {
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[e])::"memory");
}
#endif
// Four 8 x 8 matrices of 16-bit elements to shared memory (sm_90), a[i] of each lane holding
// matrix i in the mma layout; each lane gives the address of one 16-byte matrix row.
__device__ __forceinline__ void stsm_x4(elem* p, const unsigned (&a)[4]) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};" ::"r"((unsigned)__cvta_generic_to_shared(p)), "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]) : "memory");
}
// d = A^T B, both tiles contracted over their rows (MN-major).
// (acc: d += A^T B instead.)
__device__ __forceinline__ void wg_atb(float (&d)[8][4], const elem* A, const elem* B, bool acc = false) {
    const u64 da = wg_desc(A), db = wg_desc(B);
#pragma unroll
    for (int k = 0; k < 4; ++k) wg_ss<1, 1>(d, da + k * WG_MN_MAJOR_STEP, db + k * WG_MN_MAJOR_STEP, acc || k > 0);
}

// A tensor map of the tensor memory accelerator (the host's cuTensorMapEncodeTiled fills its
// 128 opaque bytes), passed to a kernel as a __grid_constant__ parameter.
struct __align__(64) TensorMap {
    unsigned long long opaque[16];
};
// The global box of `map` at (column c0, row r0) += the shared box at `shared` (fp32, in the
// map's swizzle), one bulk tensor reduction (asynchronous: bulk_commit, bulk_wait_read).
__device__ __forceinline__ void tensor_add_f32(const TensorMap& map, int c0, int r0, const float* shared) {
    const unsigned src = (unsigned)__cvta_generic_to_shared(shared);
    asm volatile("cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile.bulk_group [%0, {%1, %2}], [%3];" ::"l"((u64)&map), "r"(c0), "r"(r0), "r"(src) : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;" ::: "memory"); }
// Waits until this thread's committed bulk operations have read their shared sources.
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory"); }

// Queues global[0 .. bytes) += shared[0 .. bytes) (fp32) as one bulk reduction of the tensor
// memory accelerator (joining this thread's next `bulk_commit` group).
__device__ __forceinline__ void bulk_reduce_f32(float* global, const float* shared, int bytes) {
    const unsigned src = (unsigned)__cvta_generic_to_shared(shared);
    asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;" ::"l"(global), "r"(src), "r"(bytes) : "memory");
}
// The same, returning once the shared source has been read (it may then be overwritten).
__device__ __forceinline__ void bulk_add_f32(float* global, const float* shared, int bytes) {
    bulk_reduce_f32(global, shared, bytes);
    bulk_commit();
    bulk_wait_read();
}

// The first 1024-byte aligned address of the dynamic shared memory (the swizzle pattern is
// a function of the address bits, so its tiles must start on a 1024-byte boundary).
__device__ __forceinline__ elem* aligned_tiles(unsigned char* raw) {
    const unsigned addr = (unsigned)__cvta_generic_to_shared(raw);
    return (elem*)(raw + ((1024 - (addr & 1023)) & 1023));
}

#endif
