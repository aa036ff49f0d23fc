// cast.cu: y = (ELEM_TYPE) x for x of SRC_TYPE, through fp32 (or directly between integers).
// CPU reference: tensor::Tensor::to_dtype.
#ifndef SRC_TYPE
#define SRC_TYPE float
#endif

// Four elements moved as one load and one store (an fp32 -> bf16 cast reads 16 bytes and
// writes 8 per thread and step, instead of 4 and 2).
template <typename T> struct alignas(4 * sizeof(T)) Four { T v[4]; };

extern "C" __global__ void cast(const SRC_TYPE* x, elem* y, i64 n) {
    after_previous_grid();  // (the backward of sparse attention launches its dQ cast early)
    const bool aligned = (u64)x % sizeof(Four<SRC_TYPE>) == 0 && (u64)y % sizeof(Four<elem>) == 0;
    const i64 fours = aligned ? n / 4 : 0;
    FOR_EACH(p, fours) {
        const Four<SRC_TYPE> a = reinterpret_cast<const Four<SRC_TYPE>*>(x)[p];
        Four<elem> b;
        for (int k = 0; k < 4; ++k) b.v[k] = from_f<elem>(to_f(a.v[k]));
        reinterpret_cast<Four<elem>*>(y)[p] = b;
    }
    FOR_EACH(t, n - fours * 4) {
        const i64 i = fours * 4 + t;
        y[i] = from_f<elem>(to_f(x[i]));
    }
}
