// elementwise.cu: unary maps, broadcasting binary ops, strided copies, fills, random
// numbers, dropout and GELU. One thread per element, grid-stride loops.
// CPU references: kernels::{unary, binary, copy, philox, dropout, gelu}.

// Op codes: the order of kernels::unary::UnaryOp.
extern "C" __global__ void unary(const elem* x, elem* y, i64 n, int op, float a, float b) {
    FOR_EACH(i, n) {
        float v = to_f(x[i]), r;
        switch (op) {
            case 0: r = -v; break;                                  // Neg
            case 1: r = expf(v); break;                             // Exp
            case 2: r = logf(v); break;                             // Log
            case 3: r = sqrtf(v); break;                            // Sqrt
            case 4: r = 1.0f / v; break;                            // Recip
            case 5: r = tanhf(v); break;                            // Tanh
            case 6: r = 1.0f / (1.0f + expf(-v)); break;            // Sigmoid
            case 7: r = fmaxf(v, 0.0f); break;                      // Relu
            case 8: r = fabsf(v); break;                            // Abs
            case 9: r = v * v; break;                               // Square
            case 10: r = v > 0.0f ? 1.0f : 0.0f; break;             // Step
            case 11: r = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); break; // Sign
            case 12: r = v * a + b; break;                          // Affine
            default: r = powf(v, a); break;                         // Powf
        }
        y[i] = from_f<elem>(r);
    }
}

// Op codes: the order of kernels::binary::BinaryOp. Operands are read through strides
// broadcast to the output shape (stride 0 on stretched dimensions).
extern "C" __global__ void binary(const elem* a, const elem* b, elem* out, i64 n, Dims8 shape,
                                  Dims8 sa, i64 oa, Dims8 sb, i64 ob, int ndim, int op) {
    FOR_EACH(i, n) {
        float x = to_f(a[strided_offset(i, shape, sa, ndim, oa)]);
        float y = to_f(b[strided_offset(i, shape, sb, ndim, ob)]);
        float r;
        switch (op) {
            case 0: r = x + y; break;
            case 1: r = x - y; break;
            case 2: r = x * y; break;
            case 3: r = x / y; break;
            case 4: r = fmaxf(x, y); break;
            case 5: r = fminf(x, y); break;
            case 6: r = x >= y ? 1.0f : 0.0f; break;
            default: r = x <= y ? 1.0f : 0.0f; break;
        }
        out[i] = from_f<elem>(r);
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
    FOR_EACH(i, n) y[i] = from_f<elem>(uniform_at(seed, (u64)i) >= p ? to_f(x[i]) * scale : 0.0f);
}

// gelu(x) = x * sigmoid(1.702 x); d/dx = s + 1.702 x s (1 - s).
extern "C" __global__ void gelu_fwd(const elem* x, elem* y, i64 n) {
    FOR_EACH(i, n) {
        float v = to_f(x[i]);
        y[i] = from_f<elem>(v / (1.0f + expf(-1.702f * v)));
    }
}
extern "C" __global__ void gelu_bwd(const elem* x, const elem* g, elem* dx, i64 n) {
    FOR_EACH(i, n) {
        float v = to_f(x[i]);
        float s = 1.0f / (1.0f + expf(-1.702f * v));
        dx[i] = from_f<elem>(to_f(g[i]) * (s + 1.702f * v * s * (1.0f - s)));
    }
}
