// cast.cu: y = (ELEM_TYPE) x for x of SRC_TYPE, through fp32 (or directly between integers).
// CPU reference: tensor::Tensor::to_dtype.
#ifndef SRC_TYPE
#define SRC_TYPE float
#endif
extern "C" __global__ void cast(const SRC_TYPE* x, elem* y, i64 n) {
    FOR_EACH(i, n) y[i] = from_f<elem>(to_f(x[i]));
}
