//! The fused sparse attention kernels against the reference path, on the GPU: every
//! factorization, integration mode and head width, queries/keys narrower than values, lengths
//! that are not multiples of the 64-row tiles, forward and backward, bf16 and fp16.
//!
//! The reference is `Tensor::attention` with the pattern's boolean mask, computed in f32 from
//! the same (half-precision) inputs; outputs of the fused kernels are poisoned with NaN before
//! they are written. Relative errors `||fused - ref|| / ||ref||` must stay within 1e-2.

use kernels::cuda::set_poison;
use model::pattern::{Factorization, Integration};
use tensor::{AttnMask, DType, Device, Tensor};

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    rel_err_rows(a, b, None)
}

/// Relative error over the rows (of the last dimension) where `keep[row]`, or all rows.
fn rel_err_rows(a: &Tensor, b: &Tensor, keep: Option<&[bool]>) -> f64 {
    let width = *a.shape().last().unwrap_or(&1);
    let (a, b) = (a.to_vec_f64().unwrap(), b.to_vec_f64().unwrap());
    let (mut num, mut den) = (0.0, 0.0);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if keep.is_none_or(|k| k[(i / width) % k.len()]) {
            num += (x - y).powi(2);
            den += y * y;
        }
    }
    (num / den).sqrt()
}

struct Case {
    name: &'static str,
    f: Factorization,
    integration: Integration,
    layer: usize,
    batch: usize,
    heads: usize,
    n: usize,
    dqk: usize,
    dv: usize,
    dtype: DType,
}

fn case(name: &'static str, f: Factorization, integration: Integration, layer: usize, heads: usize, n: usize, dqk: usize, dv: usize) -> Case {
    Case { name, f, integration, layer, batch: 2, heads, n, dqk, dv, dtype: DType::BF16 }
}

/// Worst relative error of (out, dq, dk, dv).
fn check(c: &Case) -> [f64; 4] {
    let dev = Device::Cuda(0);
    let (b, h, n) = (c.batch, c.heads, c.n);
    let rnd = |d: usize, seed: u64| Tensor::randn(&[b, h, n, d], 0.0, 1.0, seed, DType::F32, dev).unwrap().to_dtype(c.dtype).unwrap();
    let (q, k, v, dout) = (rnd(c.dqk, 1), rnd(c.dqk, 2), rnd(c.dv, 3), rnd(c.dv, 4));
    let pattern = c.f.layer(c.integration, c.layer, h);
    let scale = 1.0 / (c.dqk as f64).sqrt();
    // Reference in f32 from the same half-precision values.
    let f = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
    let (mask, mh) = pattern.mask(n);
    let shape: Vec<usize> = if mh == 1 { vec![n, n] } else { vec![h, n, n] };
    let mask = AttnMask::Bool(Tensor::from_vec(mask, &shape, dev).unwrap());
    let (ro, rlse) = Tensor::attention(&f(&q), &f(&k), &f(&v), &mask, scale).unwrap();
    let (rdq, rdk, rdv) = Tensor::attention_backward(&f(&q), &f(&k), &f(&v), &rlse, &f(&dout), &mask, scale).unwrap();
    set_poison(true);
    let parts = pattern.kernel_parts(n);
    let (o, lse) = Tensor::sparse_attention(&q, &k, &v, &parts, scale).unwrap();
    let (dq, dk, dv) = Tensor::sparse_attention_backward(&q, &k, &v, &o, &lse, &dout, &parts, scale).unwrap();
    set_poison(false);
    // A query that sees no key at all (a summary-only head before its first summary row)
    // gets output 0, log-sum-exp -inf and no gradient; the comparison covers the other rows.
    let (m, _) = pattern.mask(n);
    let rows: Vec<bool> = (0..h * n).map(|r| if mh == 1 { m[(r % n) * n..][..n].iter().any(|&x| x != 0) } else { m[r * n..][..n].iter().any(|&x| x != 0) }).collect();
    let lse_v = lse.to_vec_f64().unwrap();
    let o_v = o.to_vec_f64().unwrap();
    for r in 0..b * h * n {
        if !rows[r % (h * n)] {
            assert!(lse_v[r] == f64::NEG_INFINITY && o_v[r * c.dv..][..c.dv].iter().all(|&x| x == 0.0), "{}: a query with no keys", c.name);
        }
    }
    let lse_err = rel_err_rows(&lse.unsqueeze(3).unwrap(), &rlse.unsqueeze(3).unwrap(), Some(&rows));
    assert!(lse_err < 1e-3, "{}: log-sum-exp relative error {lse_err:e}", c.name);
    [rel_err_rows(&o, &ro, Some(&rows)), rel_err_rows(&dq, &rdq, Some(&rows)), rel_err(&dk, &rdk), rel_err(&dv, &rdv)]
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn fused_sparse_attention_matches_the_reference() {
    use Factorization::*;
    use Integration::*;
    let mut cases = vec![
        case("dense causal", Dense, Merged, 0, 2, 200, 64, 64),
        case("strided l=16 merged", Strided { stride: 16 }, Merged, 0, 2, 300, 64, 64),
        case("strided l=16 interleave A1", Strided { stride: 16 }, Interleave, 0, 2, 300, 32, 32),
        case("strided l=16 interleave A2", Strided { stride: 16 }, Interleave, 1, 2, 300, 32, 32),
        case("strided l=24 multi-head, d=128", Strided { stride: 24 }, MultiHead, 0, 4, 257, 128, 128),
        case("fixed l=32 c=8 merged (4 summary sub-blocks)", Fixed { block: 32, summary: 8 }, Merged, 0, 4, 333, 64, 64),
        case("fixed l=32 c=8 interleave A1, QK 64 / V 128", Fixed { block: 32, summary: 8 }, Interleave, 0, 4, 190, 64, 128),
        case("fixed l=32 c=8 interleave A2, QK 64 / V 128", Fixed { block: 32, summary: 8 }, Interleave, 1, 4, 190, 64, 128),
        case("fixed l=16 c=4 multi-head, d=32", Fixed { block: 16, summary: 4 }, MultiHead, 0, 4, 150, 32, 32),
        case("enwik8 pattern: fixed l=128 c=32 merged, n=1000", Fixed { block: 128, summary: 32 }, Merged, 0, 8, 1000, 64, 64),
        case("CIFAR-10 pattern: strided l=96 merged, QK 64 / V 128", Strided { stride: 96 }, Merged, 0, 2, 3072, 64, 128),
        case("half-size QK: QK 32 / V 64", Strided { stride: 64 }, Merged, 0, 2, 700, 32, 64),
        // n a multiple of l: the summary keys and the strided columns by TMA (version 16's
        // grouped tensor maps; other lengths keep cp.async for them)
        case("fixed l=128 c=32 merged, n=1024 (summary keys by TMA)", Fixed { block: 128, summary: 32 }, Merged, 0, 8, 1024, 64, 64),
        case("strided l=16 merged, n=1024 (columns by TMA)", Strided { stride: 16 }, Merged, 0, 2, 1024, 64, 64),
        // version 21: the own blocks inside the summary part's forward launch, and versions
        // 23 and 24: the summary keys' dK / dV in compact buffers, from 24 in one backward
        // launch with the own blocks (l a multiple of 64; four summary sub-blocks, so the
        // heads' summary rows differ)
        case("fixed l=64 c=16 merged, n=1536 (own blocks in the summary launch)", Fixed { block: 64, summary: 16 }, Merged, 0, 4, 1536, 64, 64),
        // 32-wide heads on packed columns that cross tile edges, as ImageNet 64's (96 rows,
        // two to three tiles): the mma.sync kernels' masked edge tiles
        case("strided l=32 merged, n=1536, d=32 (4 columns of 48 packed)", Strided { stride: 32 }, Merged, 0, 2, 1536, 32, 32),
        case("strided l=128 merged, n=3072, d=32 (8 columns of 24 packed)", Strided { stride: 128 }, Merged, 0, 2, 3072, 32, 32),
        case("strided l=64 merged, n=6144, d=32 (2 columns of 96 packed, as ImageNet 64's)", Strided { stride: 64 }, Merged, 0, 2, 6144, 32, 32),
        // 32-wide heads on windows over a partial last tile (their columns are not packed):
        // version 34's wgmma kernels on tiles of 64 x 32
        case("strided l=128 merged, n=1000, d=32", Strided { stride: 128 }, Merged, 0, 2, 1000, 32, 32),
        case("strided l=96 interleave A1, n=1100, d=32", Strided { stride: 96 }, Interleave, 0, 2, 1100, 32, 32),
        // columns of 128 and 127 rows (n not a multiple of l: not packed)
        case("strided l=16 merged, n=2040 (columns of 128 and 127)", Strided { stride: 16 }, Merged, 0, 2, 2040, 64, 64),
        // version 27: blocks of two key tiles for long query bands (sequences of 1,024 or
        // more, no window or one of 512 or more), a partial last tile among them
        case("dense causal, n=1100 (two key tiles a block)", Dense, Merged, 0, 2, 1100, 64, 64),
        case("strided l=512 merged, n=2048 (windows on two key tiles a block)", Strided { stride: 512 }, Merged, 0, 2, 2048, 64, 64),
    ];
    cases.push(Case { name: "fp16: fixed l=64 c=16 merged", dtype: DType::F16, ..case("", Fixed { block: 64, summary: 16 }, Merged, 0, 4, 517, 64, 64) });
    let errors: Vec<[f64; 4]> = cases.iter().map(check).collect();
    for (c, e) in cases.iter().zip(&errors) {
        println!("{:<55} out {:.2e}  dq {:.2e}  dk {:.2e}  dv {:.2e}", c.name, e[0], e[1], e[2], e[3]);
    }
    let worst = errors.iter().flatten().copied().fold(0.0f64, f64::max);
    println!("worst relative error {worst:.2e}");
    for (c, e) in cases.iter().zip(&errors) {
        assert!(e.iter().all(|x| *x < 1e-2), "{}: {e:?}", c.name);
    }
}

/// The whole model on the fused kernels vs the reference path, bf16, strided head views
/// straight out of the QKV projection: logits and every gradient.
#[test]
#[ignore = "needs a CUDA GPU"]
fn model_on_fused_kernels_matches_the_reference_path() {
    use model::{Config, Transformer};
    let dev = Device::Cuda(0);
    let config = Config { n_ctx: 300, d_model: 128, d_qk: 128, heads: 2, layers: 2, pattern: Factorization::Fixed { block: 32, summary: 8 }, ..Config::tiny() };
    let mut m = Transformer::new(config, DType::F32, dev).unwrap();
    let spec = model::params::ParamSpec { seed: 4, dtype: DType::F32, device: dev };
    m.head = model::layers::Linear::new(&spec, "head", 128, 256, 0.05).unwrap();
    m.set_compute_dtype(DType::BF16);
    let ids = Tensor::from_vec((0..2 * 301).map(|i| (i * 89 % 256) as u8).collect::<Vec<_>>(), &[2, 301], dev).unwrap();
    let run = |reference: bool| {
        model::block::set_reference_attention(reference);
        let loss = m.loss(&ids).unwrap();
        let g = loss.backward().unwrap();
        let grads: Vec<Tensor> = m.params().iter().map(|p| g.get(&p.var).unwrap().clone()).collect();
        (loss.value().to_scalar_f64().unwrap(), grads)
    };
    let (l_ref, g_ref) = run(true);
    let (l_fused, g_fused) = run(false);
    model::block::set_reference_attention(false);
    println!("loss: reference {l_ref:.6}, fused {l_fused:.6}");
    assert!((l_ref - l_fused).abs() / l_ref < 1e-2);
    for ((p, a), b) in m.params().iter().zip(&g_fused).zip(&g_ref) {
        let e = rel_err(a, b);
        assert!(e < 3e-2, "{}: gradient relative error {e:e}", p.name);
    }
}
