// adam.cu: the Adam(W) update on fp32 master weights, and the inf/NaN check of loss scaling.
// CPU reference: kernels::adam.

// p, m, v: fp32; g: ELEM_TYPE (fp32 or half-precision gradients).
extern "C" __global__ void adam(float* p, const elem* g, float* m, float* v, i64 n, float lr, float b1, float b2,
                                float eps, float wd, float inv_bc1, float inv_bc2) {
    FOR_EACH(i, n) {
        float gi = to_f(g[i]);
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi; v[i] = vi;
        p[i] -= lr * ((mi * inv_bc1) / (sqrtf(vi * inv_bc2) + eps) + wd * p[i]);
    }
}

// Sets *flag to 1 if any element is inf or NaN. Launched once per gradient tensor, all into
// one flag, with no synchronisation; the host reads the flag once per step.
extern "C" __global__ void nonfinite_flag(const elem* x, i64 n, int* flag) {
    FOR_EACH(i, n) if (!isfinite(to_f(x[i]))) *flag = 1;
}
