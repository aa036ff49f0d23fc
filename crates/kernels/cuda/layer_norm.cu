// layer_norm.cu: LayerNorm over rows of length n, fp32 statistics. CPU reference:
// kernels::layer_norm. The column sums of the backward (dgamma, dbeta) are taken in two
// deterministic stages: per-block partial sums over fixed row ranges, then a sum of partials.

extern "C" __global__ void ln_fwd(const elem* x, const elem* gamma, const elem* beta, elem* y, float* mean, float* rstd,
                                  i64 rows, i64 n, float eps) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const elem* xr = x + r * n;
        float s = 0.0f;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) s += to_f(xr[j]);
        float mu = block_sum(s) / (float)n;
        float v = 0.0f;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) { float d = to_f(xr[j]) - mu; v += d * d; }
        float rs = rsqrtf(block_sum(v) / (float)n + eps);
        for (i64 j = threadIdx.x; j < n; j += blockDim.x)
            y[r * n + j] = from_f<elem>((to_f(xr[j]) - mu) * rs * to_f(gamma[j]) + to_f(beta[j]));
        if (threadIdx.x == 0) { mean[r] = mu; rstd[r] = rs; }
    }
}

// dx per row; this block's partial dgamma / dbeta over rows [blockIdx.x * rows_per_block, ...)
// into part_g / part_b: [gridDim.x, n].
extern "C" __global__ void ln_bwd(const elem* x, const elem* gamma, const float* mean, const float* rstd, const elem* g,
                                  elem* dx, float* part_g, float* part_b, i64 rows, i64 n, i64 rows_per_block) {
    i64 r0 = blockIdx.x * rows_per_block, r1 = min(rows, r0 + rows_per_block);
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) { part_g[blockIdx.x * n + j] = 0.0f; part_b[blockIdx.x * n + j] = 0.0f; }
    for (i64 r = r0; r < r1; ++r) {
        const elem* xr = x + r * n; const elem* gr = g + r * n;
        float mu = mean[r], rs = rstd[r];
        float a = 0.0f, b = 0.0f;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
            float xhat = (to_f(xr[j]) - mu) * rs, gv = to_f(gr[j]), gx = gv * to_f(gamma[j]);
            a += gx; b += gx * xhat;
            part_g[blockIdx.x * n + j] += gv * xhat;
            part_b[blockIdx.x * n + j] += gv;
        }
        float mean_gx = block_sum(a) / (float)n, mean_gx_xhat = block_sum(b) / (float)n;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
            float xhat = (to_f(xr[j]) - mu) * rs;
            dx[r * n + j] = from_f<elem>(rs * (to_f(gr[j]) * to_f(gamma[j]) - mean_gx - xhat * mean_gx_xhat));
        }
    }
}

// out[j] = sum_b part[b, j], in order of b.
extern "C" __global__ void sum_partials(const float* part, elem* out, i64 nparts, i64 n) {
    FOR_EACH(j, n) {
        float s = 0.0f;
        for (i64 b = 0; b < nparts; ++b) s += part[b * n + j];
        out[j] = from_f<elem>(s);
    }
}
