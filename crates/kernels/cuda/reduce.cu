// reduce.cu: reductions along one axis of a dense [outer, len, inner] buffer.
// CPU reference: kernels::reduce. Sums are taken in a fixed order (deterministic).

// inner > 1: one thread per (o, i), summing j in order (coalesced across i).
extern "C" __global__ void sum_axis(const elem* x, elem* y, i64 outer, i64 len, i64 inner) {
    FOR_EACH(t, outer * inner) {
        i64 o = t / inner, i = t % inner;
        float s = 0.0f;
        for (i64 j = 0; j < len; ++j) s += to_f(x[(o * len + j) * inner + i]);
        y[t] = from_f<elem>(s);
    }
}

// inner == 1: one block per row, a block-wide tree sum.
extern "C" __global__ void sum_rows(const elem* x, elem* y, i64 rows, i64 len) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        float s = 0.0f;
        for (i64 j = threadIdx.x; j < len; j += blockDim.x) s += to_f(x[r * len + j]);
        s = block_sum(s);
        if (threadIdx.x == 0) y[r] = from_f<elem>(s);
    }
}

// Max over j and the first j attaining it.
extern "C" __global__ void max_axis(const elem* x, elem* y, int* arg, i64 outer, i64 len, i64 inner) {
    FOR_EACH(t, outer * inner) {
        i64 o = t / inner, i = t % inner;
        float m = -INFINITY; int a = 0;
        for (i64 j = 0; j < len; ++j) {
            float v = to_f(x[(o * len + j) * inner + i]);
            if (v > m || j == 0) { m = v; a = (int)j; }
        }
        y[t] = from_f<elem>(m); arg[t] = a;
    }
}

// dx[o, j, i] = dy[o, i] where j is the arg-max, else 0.
extern "C" __global__ void max_backward(const elem* dy, const int* arg, elem* dx, i64 outer, i64 len, i64 inner) {
    FOR_EACH(t, outer * len * inner) {
        i64 i = t % inner, j = (t / inner) % len, o = t / (inner * len);
        dx[t] = arg[o * inner + i] == (int)j ? dy[o * inner + i] : from_f<elem>(0.0f);
    }
}
