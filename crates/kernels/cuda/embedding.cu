// embedding.cu: row gather and its scatter-add backward. CPU reference: kernels::embedding.
// Ids outside [0, vocab) read as zero rows and add nothing (the CPU path reports them as errors).

extern "C" __global__ void embedding_fwd(const elem* table, const idx_t* ids, elem* out, i64 nids, i64 dim, i64 vocab) {
    FOR_EACH(t, nids * dim) {
        i64 r = t / dim, c = t % dim;
        i64 id = (i64)ids[r];
        out[t] = (id >= 0 && id < vocab) ? table[id * dim + c] : from_f<elem>(0.0f);
    }
}

// dtable (fp32, zeroed) += dout rows. fp32 atomics: the order of additions into one row
// varies between runs, so this gradient is reproducible to rounding, not bit for bit.
extern "C" __global__ void embedding_bwd(const elem* dout, const idx_t* ids, float* dtable, i64 nids, i64 dim, i64 vocab) {
    FOR_EACH(t, nids * dim) {
        i64 r = t / dim, c = t % dim;
        i64 id = (i64)ids[r];
        if (id >= 0 && id < vocab) atomicAdd(&dtable[id * dim + c], to_f(dout[t]));
    }
}
