// layer_norm.cu: LayerNorm over rows of length n, fp32 statistics. CPU reference:
// kernels::layer_norm. The column sums of the backward (dgamma, dbeta) are taken in two
// deterministic stages: per-block partial sums over fixed row ranges, then a sum of partials.

// One warp per row (see softmax.cu): mean, then variance about the mean (two passes over a
// row that is still in L1), then the normalised output, 16-byte packs where possible.
extern "C" __global__ void ln_fwd(const elem* x, const elem* gamma, const elem* beta, elem* y, float* mean, float* rstd,
                                  i64 rows, i64 n, float eps) {
    int lane = threadIdx.x & 31;
    i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
    bool vec = n % PACK == 0 && aligned16(x) && aligned16(y) && aligned16(gamma) && aligned16(beta);
    bool in_registers = vec && n <= 32 * PACK * ROW_PACKS;
    for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
        const elem* xr = x + r * n;
        elem* yr = y + r * n;
        if (in_registers) {
            Pack buf[ROW_PACKS];
            load_row(xr, n, lane, buf);
            float s = 0.0f;
#pragma unroll
            for (int t = 0; t < ROW_PACKS; ++t)
                if (((i64)lane + 32 * t) * PACK < n)
                    for (int k = 0; k < PACK; ++k) s += to_f(buf[t].v[k]);
            float mu = warp_sum(s) / (float)n;
            float v = 0.0f;
#pragma unroll
            for (int t = 0; t < ROW_PACKS; ++t)
                if (((i64)lane + 32 * t) * PACK < n)
                    for (int k = 0; k < PACK; ++k) { float d = to_f(buf[t].v[k]) - mu; v += d * d; }
            float rs = rsqrtf(warp_sum(v) / (float)n + eps);
#pragma unroll
            for (int t = 0; t < ROW_PACKS; ++t) {
                i64 j0 = ((i64)lane + 32 * t) * PACK;
                if (j0 < n) {
                    Pack gm = *(const Pack*)(gamma + j0);
                    Pack bt = *(const Pack*)(beta + j0);
                    for (int k = 0; k < PACK; ++k) buf[t].v[k] = from_f<elem>((to_f(buf[t].v[k]) - mu) * rs * to_f(gm.v[k]) + to_f(bt.v[k]));
                    *(Pack*)(yr + j0) = buf[t];
                }
            }
            if (lane == 0) { mean[r] = mu; rstd[r] = rs; }
            continue;
        }
        float s = 0.0f;
        if (vec) {
            for (i64 j0 = (i64)lane * PACK; j0 < n; j0 += 32 * PACK) {
                Pack p = *(const Pack*)(xr + j0);
                for (int k = 0; k < PACK; ++k) s += to_f(p.v[k]);
            }
        } else {
            for (i64 j = lane; j < n; j += 32) s += to_f(xr[j]);
        }
        float mu = warp_sum(s) / (float)n;
        float v = 0.0f;
        if (vec) {
            for (i64 j0 = (i64)lane * PACK; j0 < n; j0 += 32 * PACK) {
                Pack p = *(const Pack*)(xr + j0);
                for (int k = 0; k < PACK; ++k) { float d = to_f(p.v[k]) - mu; v += d * d; }
            }
        } else {
            for (i64 j = lane; j < n; j += 32) { float d = to_f(xr[j]) - mu; v += d * d; }
        }
        float rs = rsqrtf(warp_sum(v) / (float)n + eps);
        if (vec) {
            for (i64 j0 = (i64)lane * PACK; j0 < n; j0 += 32 * PACK) {
                Pack p = *(const Pack*)(xr + j0);
                Pack gm = *(const Pack*)(gamma + j0);
                Pack bt = *(const Pack*)(beta + j0);
                for (int k = 0; k < PACK; ++k) p.v[k] = from_f<elem>((to_f(p.v[k]) - mu) * rs * to_f(gm.v[k]) + to_f(bt.v[k]));
                *(Pack*)(yr + j0) = p;
            }
        } else {
            for (i64 j = lane; j < n; j += 32) yr[j] = from_f<elem>((to_f(xr[j]) - mu) * rs * to_f(gamma[j]) + to_f(beta[j]));
        }
        if (lane == 0) { mean[r] = mu; rstd[r] = rs; }
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
