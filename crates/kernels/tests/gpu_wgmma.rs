//! The operand layouts of version 14's Hopper kernels (`sparse_attention_wgmma.cu`) on one
//! 64 x 64 pair, against the CPU: `A B^T` (both tiles K-major: S = Q K^T), `A B` (A from
//! registers, B MN-major: dV += P^T dO) and `A^T B` (both MN-major: dQ = dS K with dS^T
//! stored). Each is what the dK/dV kernel builds on, so a wrong descriptor shows here by name
//! rather than as a wrong gradient. Needs a Hopper GPU (wgmma exists on sm_90 only).

use cudarc::driver::{LaunchConfig, PushKernelArg};
use half::{bf16, f16};
use kernels::cuda::{set_poison, Elem, Gpu};

/// Deterministic values in [-1, 1), rounded to the element type by `round`.
fn values(seed: u64, len: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `||out - ref|| / ||ref||`.
fn rel_err(out: &[f32], reference: &[f64]) -> f64 {
    let num: f64 = out.iter().zip(reference).map(|(&o, &r)| (o as f64 - r).powi(2)).sum();
    let den: f64 = reference.iter().map(|r| r * r).sum();
    (num / den).sqrt()
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn wgmma_operand_layouts_match_the_cpu() {
    let gpu = Gpu::get(0).expect("a CUDA GPU");
    assert_eq!(gpu.arch, "sm_90", "wgmma needs a Hopper GPU (sm_90), this is {}", gpu.arch);
    set_poison(true);
    for (elem, c_type) in [(Elem::BF16, "__nv_bfloat16"), (Elem::F16, "__half")] {
        // Inputs rounded to the element type, so the products are exact in fp32 and only the
        // order of accumulation differs from the f64 reference.
        let round = |v: f32| if elem == Elem::BF16 { bf16::from_f32(v).to_f32() } else { f16::from_f32(v).to_f32() };
        let bytes = |v: &[f32]| -> Vec<u8> {
            v.iter().flat_map(|&x| if elem == Elem::BF16 { bf16::from_f32(x).to_le_bytes() } else { f16::from_f32(x).to_le_bytes() }).collect()
        };
        let a: Vec<f32> = values(1, 4096).into_iter().map(round).collect();
        let b: Vec<f32> = values(2, 4096).into_iter().map(round).collect();
        let (da, db) = (gpu.upload(elem, 4096, &bytes(&a)).unwrap(), gpu.upload(elem, 4096, &bytes(&b)).unwrap());
        let out = gpu.alloc(Elem::F32, 3 * 4096).unwrap(); // NaN-poisoned
        let defs = [("ELEM_TYPE", c_type), ("DQK", "64"), ("DV", "64"), ("SA_VERSION", "14")];
        let func = gpu.function("sparse_attention_wgmma.cu", &defs, "sa_wgmma_check").unwrap();
        let (pa, pb, po) = (da.ptr(&gpu), db.ptr(&gpu), out.ptr(&gpu));
        let mut launch = gpu.stream.launch_builder(&func);
        launch.arg(&pa).arg(&pb).arg(&po);
        let cfg = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 2 * 8192 + 1024 };
        // SAFETY: the kernel reads two 64 x 64 tiles and writes 3 x 4096 floats, all allocated above.
        unsafe { launch.launch(cfg) }.unwrap();
        let got: Vec<f32> = gpu.download(&out, 0, 3 * 4096).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let at = |m: &[f32], r: usize, c: usize| m[r * 64 + c] as f64;
        let product = |f: &dyn Fn(usize, usize, usize) -> f64| -> Vec<f64> { (0..4096).map(|i| (0..64).map(|k| f(i / 64, i % 64, k)).sum()).collect() };
        let cases = [
            ("A B^T (K-major, K-major)", product(&|i, j, k| at(&a, i, k) * at(&b, j, k))),
            ("A B (registers, MN-major)", product(&|i, j, k| at(&a, i, k) * at(&b, k, j))),
            ("A^T B (MN-major, MN-major)", product(&|i, j, k| at(&a, k, i) * at(&b, k, j))),
        ];
        for (m, (name, reference)) in cases.iter().enumerate() {
            let err = rel_err(&got[m * 4096..(m + 1) * 4096], reference);
            println!("{c_type} {name}: relative error {err:.2e}");
            assert!(err < 1e-5, "{c_type} {name}: relative error {err:.2e}");
        }
    }
}
