// sparse_attention_tma.cuh: version 16's streamed tiles by the tensor memory accelerator (TMA),
// compiled after the wgmma header (it uses its TensorMap) and before the copies and kernels.
//
// Why: a 64 x 64 tile copied by cp.async costs every thread of the block its share of 1,024
// 16-byte copies, and each copy its global address: the row of key m is
// s k_seq + (m / k_group) k_gstride + (m % k_group) k_step + off, an integer division and
// 64-bit products per row (the v15 forward spent about 470 of its ~1,050 instructions a warp
// per 128 x 64 tile there; SASS). With a tensor map built on the host, one thread hands the
// whole tile to the TMA with one instruction, and an mbarrier tells the block when it has landed.
//
// The maps are 5-D: (element, row in group, group, head, batch), with a box of 64 elements x
// G rows x 64 / G groups x 1 x 1, so that one box is one 64-row tile in the 128-byte swizzle
// (the layout `tile_offset<64, true>` and wgmma read), the tile's first row r0 at coordinates
// (r0 % e1, r0 / e1):
//   contiguous rows (dense, windows, own blocks, the queries of those and of the summary
//     part): G = 64, one group of e1 = n rows;
//   the fixed pattern's summary keys (c rows out of every block of l, c dividing 64): G = c,
//     groups of e1 = l rows;
//   the strided columns (one row of every block of l, when l divides n): G = 1, e1 = l.
// The host (`tile_maps` in kernels/src/cuda/tensor_map.rs) builds maps only for parts whose
// rows have one of these shapes and then launches the `_tma` kernels; the others (packed
// short columns) keep cp.async. Rows outside the tensor come in as zeros; rows of the tensor
// outside the part come in as they are and are masked like any unseen key.

#ifdef SA_WGMMA
#if SA_VERSION >= 16
#define SA_TMA 1

// The host's `TileRows`: the rows per group of a launch's maps (first coordinate of a row r:
// r % e1, second: r / e1).
struct TileRows {
    int e1;
};
// The two maps of a launch's streamed tiles (K and V in the forward, Q and dO in the dK/dV
// kernel), passed as one __grid_constant__ parameter.
struct TileMaps {
    TensorMap a, b;
};

__device__ __forceinline__ unsigned smem_u32(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }
// An mbarrier (8 bytes of shared memory) expecting `count` arrivals per phase.
__device__ __forceinline__ void mbar_init(u64* bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
// Makes initialised mbarriers visible to the TMA (then a block barrier, for the other threads).
__device__ __forceinline__ void mbar_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory"); }
// This thread's arrival, announcing `bytes` that asynchronous copies will complete.
__device__ __forceinline__ void mbar_expect(u64* bar, int bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
// Waits for the phase of parity `parity` to complete (the tile has landed).
__device__ __forceinline__ void mbar_wait(u64* bar, int parity) {
    const unsigned addr = smem_u32(bar);
    unsigned done = 0;
    while (!done) {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n" : "=r"(done) : "r"(addr), "r"(parity) : "memory");
    }
}
// The 64-row tile whose first row is `row0` (< 2^31) of head h of batch b, from `map` into the swizzled
// tile `dst` (1024-byte aligned), completing on `bar`.
__device__ __forceinline__ void tma_tile(elem* dst, const TensorMap& map, int row0, int e1, int h, int b, u64* bar) {
#if SA_VERSION >= 28
    // Version 28: no division where none is needed. The maps of contiguous rows have one group
    // (row0 < e1), and the grouped ones mostly a power of two rows a group (the block length l).
    const int c2 = row0 < e1 ? 0 : (e1 & (e1 - 1)) == 0 ? row0 >> (__ffs(e1) - 1) : row0 / e1, c1 = row0 - c2 * e1;
#else
    const int c2 = row0 / e1, c1 = row0 - c2 * e1;
#endif
    asm volatile("cp.async.bulk.tensor.5d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5, %6}], [%7];" ::"r"(smem_u32(dst)), "l"((u64)&map), "r"(0), "r"(c1), "r"(c2), "r"(h), "r"(b), "r"(smem_u32(bar))
                 : "memory");
}
// Thread 0, before the first load: the two stages' mbarriers, each completed by thread 0's
// arrival and the byte count of its loads (then a block barrier, for the other threads).
__device__ __forceinline__ void tma_stages_init(u64* landed) {
    mbar_init(&landed[0], 1);
    mbar_init(&landed[1], 1);
    mbar_init_fence();
}
// Thread 0: both tiles of a step (rows row0 ..) into `a` and `b` on `bar`.
__device__ __forceinline__ void tma_pair(const TileMaps& maps, const TileRows& rows, elem* a, elem* b_tile, int row0, int h, int b, u64* bar) {
    mbar_expect(bar, 2 * 64 * 64 * (int)sizeof(elem));
    tma_tile(a, maps.a, row0, rows.e1, h, b, bar);
    tma_tile(b_tile, maps.b, row0, rows.e1, h, b, bar);
}
#define TILE_MAPS , const __grid_constant__ TileMaps maps, TileRows rows
#define TILE_MAPS_ARG , &maps, rows
#define TILE_MAPS_PARAM , const TileMaps* maps, TileRows rows
#endif
#endif
