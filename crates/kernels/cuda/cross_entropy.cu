// cross_entropy.cu: mean cross-entropy from logits, fp32 loss and log-sum-exp.
// CPU reference: kernels::cross_entropy.

// Per row: lse and the row's loss lse - logit[target]. One block per row.
extern "C" __global__ void ce_fwd(const elem* logits, const idx_t* targets, float* row_loss, float* lse, i64 rows, i64 vocab) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const elem* x = logits + r * vocab;
        float m = -INFINITY;
        for (i64 j = threadIdx.x; j < vocab; j += blockDim.x) m = fmaxf(m, to_f(x[j]));
        m = block_max(m);
        float s = 0.0f;
        for (i64 j = threadIdx.x; j < vocab; j += blockDim.x) s += expf(to_f(x[j]) - m);
        s = block_sum(s);
        if (threadIdx.x == 0) {
            float l = m + logf(s);
            i64 t = (i64)targets[r];
            lse[r] = l;
            row_loss[r] = (t >= 0 && t < vocab) ? l - to_f(x[t]) : 0.0f;
        }
    }
}

// loss = mean of row_loss: one block, fixed order (deterministic).
extern "C" __global__ void mean_of(const float* v, float* out, i64 n) {
    float s = 0.0f;
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) s += v[j];
    s = block_sum(s);
    if (threadIdx.x == 0) out[0] = s / (float)n;
}

// dlogits = g / rows * (softmax - onehot(target)); g is the loss gradient, on the device.
extern "C" __global__ void ce_bwd(const elem* logits, const idx_t* targets, const float* lse, const float* g,
                                  elem* d, i64 rows, i64 vocab) {
    float scale = g[0] / (float)rows;
    FOR_EACH(t, rows * vocab) {
        i64 r = t / vocab, j = t % vocab;
        float v = expf(to_f(logits[t]) - lse[r]) * scale;
        if ((i64)targets[r] == j) v -= scale;
        d[t] = from_f<elem>(v);
    }
}
