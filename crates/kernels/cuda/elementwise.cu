// elementwise.cu: unary maps, broadcasting binary ops, strided copies, fills, random
// numbers, dropout and GELU. One thread per element, grid-stride loops.
// CPU references: kernels::{unary, binary, copy, philox, dropout, gelu}.

// Op codes: the order of kernels::unary::UnaryOp.
__device__ __forceinline__ float unary_op(float v, int op, float a, float b) {
    switch (op) {
        case 0: return -v;                                  // Neg
        case 1: return expf(v);                             // Exp
        case 2: return logf(v);                             // Log
        case 3: return sqrtf(v);                            // Sqrt
        case 4: return 1.0f / v;                            // Recip
        case 5: return tanhf(v);                            // Tanh
        case 6: return 1.0f / (1.0f + expf(-v));            // Sigmoid
        case 7: return fmaxf(v, 0.0f);                      // Relu
        case 8: return fabsf(v);                            // Abs
        case 9: return v * v;                               // Square
        case 10: return v > 0.0f ? 1.0f : 0.0f;             // Step
        case 11: return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); // Sign
        case 12: return v * a + b;                          // Affine
        default: return powf(v, a);                         // Powf
    }
}

// Walks n contiguous elements: body(i) for every index, in 16-byte packs where the pointers
// allow (loads/stores through Pack), then the scalar tail. `LOAD(k)`/`STORE(k, v)` are
// written by each kernel below for its own operands.
#define PACKED_LOOP(n, aligned, PACK_BODY, SCALAR_BODY)                              \
    {                                                                                \
        i64 npack = (aligned) ? (n) / PACK : 0;                                      \
        FOR_EACH(pi, npack) { PACK_BODY }                                            \
        FOR_EACH(ti, (n) - npack * PACK) { i64 i = npack * PACK + ti; SCALAR_BODY }  \
    }

extern "C" __global__ void unary(const elem* x, elem* y, i64 n, int op, float a, float b) {
    PACKED_LOOP(n, aligned16(x) && aligned16(y),
        Pack p = ((const Pack*)x)[pi];
        for (int k = 0; k < PACK; ++k) p.v[k] = from_f<elem>(unary_op(to_f(p.v[k]), op, a, b));
        ((Pack*)y)[pi] = p;,
        y[i] = from_f<elem>(unary_op(to_f(x[i]), op, a, b));)
}

__device__ __forceinline__ float binary_op(float x, float y, int op) {
    switch (op) {
        case 0: return x + y;
        case 1: return x - y;
        case 2: return x * y;
        case 3: return x / y;
        case 4: return fmaxf(x, y);
        case 5: return fminf(x, y);
        case 6: return x >= y ? 1.0f : 0.0f;
        default: return x <= y ? 1.0f : 0.0f;
    }
}

// Both operands dense and of the output's shape (residual adds, gradient accumulation).
extern "C" __global__ void binary_same(const elem* a, const elem* b, elem* out, i64 n, int op) {
    PACKED_LOOP(n, aligned16(a) && aligned16(b) && aligned16(out),
        Pack p = ((const Pack*)a)[pi];
        Pack q = ((const Pack*)b)[pi];
        for (int k = 0; k < PACK; ++k) p.v[k] = from_f<elem>(binary_op(to_f(p.v[k]), to_f(q.v[k]), op));
        ((Pack*)out)[pi] = p;,
        out[i] = from_f<elem>(binary_op(to_f(a[i]), to_f(b[i]), op));)
}

// Op codes: the order of kernels::binary::BinaryOp. Operands are read through strides
// broadcast to the output shape (stride 0 on stretched dimensions).
extern "C" __global__ void binary(const elem* a, const elem* b, elem* out, i64 n, Dims8 shape,
                                  Dims8 sa, i64 oa, Dims8 sb, i64 ob, int ndim, int op) {
    FOR_EACH(i, n) {
        float x = to_f(a[strided_offset(i, shape, sa, ndim, oa)]);
        float y = to_f(b[strided_offset(i, shape, sb, ndim, ob)]);
        out[i] = from_f<elem>(binary_op(x, y, op));
    }
}

// dst (dense) = the strided view of src.
extern "C" __global__ void gather_strided(const elem* src, elem* dst, i64 n, Dims8 shape, Dims8 strides, i64 offset, int ndim) {
    FOR_EACH(i, n) dst[i] = src[strided_offset(i, shape, strides, ndim, offset)];
}

// The strided region of dst = src (dense). The region must not overlap itself.
extern "C" __global__ void scatter_strided(const elem* src, elem* dst, i64 n, Dims8 shape, Dims8 strides, i64 offset, int ndim) {
    FOR_EACH(i, n) dst[strided_offset(i, shape, strides, ndim, offset)] = src[i];
}

extern "C" __global__ void fill(elem* y, i64 n, float value) {
    FOR_EACH(i, n) y[i] = from_f<elem>(value);
}

// Normal(mean = a, std = b) when normal != 0, else uniform in [a, b).
extern "C" __global__ void fill_random(elem* y, i64 n, u64 seed, float a, float b, int normal) {
    FOR_EACH(i, n) {
        double r = normal ? (double)a + (double)b * normal_at(seed, (u64)i)
                          : (double)a + ((double)b - (double)a) * uniform_at(seed, (u64)i);
        y[i] = from_f<elem>((float)r);
    }
}

// Inverted dropout: keep where uniform(seed, i) >= p, scale by 1 / (1 - p).
extern "C" __global__ void dropout(const elem* x, elem* y, i64 n, double p, u64 seed) {
    float scale = (float)(1.0 / (1.0 - p));
    PACKED_LOOP(n, aligned16(x) && aligned16(y),
        Pack v = ((const Pack*)x)[pi];
        for (int k = 0; k < PACK; ++k) v.v[k] = from_f<elem>(uniform_at(seed, (u64)(pi * PACK + k)) >= p ? to_f(v.v[k]) * scale : 0.0f);
        ((Pack*)y)[pi] = v;,
        y[i] = from_f<elem>(uniform_at(seed, (u64)i) >= p ? to_f(x[i]) * scale : 0.0f);)
}

// gelu(x) = x * sigmoid(1.702 x); d/dx = s + 1.702 x s (1 - s).
__device__ __forceinline__ float gelu(float v) { return v / (1.0f + expf(-1.702f * v)); }
__device__ __forceinline__ float gelu_grad(float v, float g) {
    float s = 1.0f / (1.0f + expf(-1.702f * v));
    return g * (s + 1.702f * v * s * (1.0f - s));
}
extern "C" __global__ void gelu_fwd(const elem* x, elem* y, i64 n) {
    PACKED_LOOP(n, aligned16(x) && aligned16(y),
        Pack p = ((const Pack*)x)[pi];
        for (int k = 0; k < PACK; ++k) p.v[k] = from_f<elem>(gelu(to_f(p.v[k])));
        ((Pack*)y)[pi] = p;,
        y[i] = from_f<elem>(gelu(to_f(x[i])));)
}
extern "C" __global__ void gelu_bwd(const elem* x, const elem* g, elem* dx, i64 n) {
    PACKED_LOOP(n, aligned16(x) && aligned16(g) && aligned16(dx),
        Pack p = ((const Pack*)x)[pi];
        Pack q = ((const Pack*)g)[pi];
        for (int k = 0; k < PACK; ++k) p.v[k] = from_f<elem>(gelu_grad(to_f(p.v[k]), to_f(q.v[k])));
        ((Pack*)dx)[pi] = p;,
        dx[i] = from_f<elem>(gelu_grad(to_f(x[i]), to_f(g[i])));)
}
