//! CUDA-only checks of the tensor layer against the CPU: random numbers and dropout masks
//! (bit for bit: both sides run the same Philox), casts and copies, strided gathers of every
//! dtype, Adam on fp32 masters with bf16 gradients, and the inf/NaN flag. Run on the GPU
//! machine (`.gpu/run-tests cuda`).

use tensor::{AdamParams, DType, Device, Tensor};

const GPU: Device = Device::Cuda(0);

fn poison() {
    kernels::cuda::set_poison(true);
}

/// Asserts equality element by element, reporting the first difference (not the vectors).
fn assert_same(a: &Tensor, b: &Tensor, what: &str) {
    let (x, y) = (a.to_vec_f64().unwrap(), b.to_vec_f64().unwrap());
    let bad = x.iter().zip(&y).filter(|(p, q)| p.to_bits() != q.to_bits()).count();
    if let Some(i) = x.iter().zip(&y).position(|(p, q)| p.to_bits() != q.to_bits()) {
        panic!("{what}: {bad} of {} elements differ; first at {i}: {} vs {}", x.len(), x[i], y[i]);
    }
}

fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = want.iter().map(|b| b * b).sum::<f64>().max(1e-300);
    (num / den).sqrt()
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn random_numbers_and_dropout_match_the_cpu_bit_for_bit() {
    poison();
    for dtype in [DType::F32, DType::BF16] {
        let shape = [1001, 37];
        let a = Tensor::randn(&shape, 0.5, 2.0, 11, dtype, Device::Cpu).unwrap();
        let b = Tensor::randn(&shape, 0.5, 2.0, 11, dtype, GPU).unwrap();
        assert_same(&a, &b, &format!("randn {dtype}"));
        let a = Tensor::rand_uniform(&shape, -1.0, 3.0, 12, dtype, Device::Cpu).unwrap();
        let b = Tensor::rand_uniform(&shape, -1.0, 3.0, 12, dtype, GPU).unwrap();
        assert_same(&a, &b, &format!("uniform {dtype}"));
        let x = Tensor::ones(&shape, dtype, Device::Cpu).unwrap();
        assert_same(&x.dropout(0.3, 5).unwrap(), &x.to_device(GPU).unwrap().dropout(0.3, 5).unwrap(), &format!("dropout mask {dtype}"));
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn copies_casts_and_strided_gathers_of_every_dtype() {
    poison();
    let base = Tensor::randn(&[3, 37, 53], 0.0, 10.0, 3, DType::F32, Device::Cpu).unwrap();
    for dtype in [DType::F32, DType::BF16, DType::F16, DType::I32, DType::U8] {
        let src = base.abs().unwrap().to_dtype(dtype).unwrap();
        let g = src.to_device(GPU).unwrap();
        assert_same(&g, &src, &format!("round trip {dtype}"));
        let view = |t: &Tensor| t.permute(&[2, 0, 1]).unwrap().narrow(0, 5, 40).unwrap();
        assert_same(&view(&g), &view(&src), &format!("strided gather {dtype}"));
        for to in [DType::F32, DType::BF16, DType::F16, DType::I32] {
            assert_same(&g.to_dtype(to).unwrap(), &src.to_dtype(to).unwrap(), &format!("cast {dtype} -> {to}"));
        }
    }
    let z = Tensor::zeros(&[5, 7], DType::BF16, GPU).unwrap();
    assert!(z.to_vec_f64().unwrap().iter().all(|&v| v == 0.0));
    let f = Tensor::full(2.5, &[5, 7], DType::F32, GPU).unwrap();
    assert!(f.to_vec_f64().unwrap().iter().all(|&v| v == 2.5));
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn adam_on_fp32_masters_with_bf16_gradients_matches_the_cpu() {
    poison();
    let n = [1003, 17];
    let p = Tensor::randn(&n, 0.0, 1.0, 1, DType::F32, Device::Cpu).unwrap();
    let g = Tensor::randn(&n, 0.0, 1.0, 2, DType::F32, Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap();
    let (m, v) = (Tensor::zeros(&n, DType::F32, Device::Cpu).unwrap(), Tensor::zeros(&n, DType::F32, Device::Cpu).unwrap());
    let (pg, gg, mg, vg) = (p.to_device(GPU).unwrap(), g.to_device(GPU).unwrap(), Tensor::zeros(&n, DType::F32, GPU).unwrap(), Tensor::zeros(&n, DType::F32, GPU).unwrap());
    for step in 1..=3 {
        let h = AdamParams { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.01, step };
        p.adam_step(&g, &m, &v, h).unwrap();
        pg.adam_step(&gg, &mg, &vg, h).unwrap();
    }
    for (a, b, what) in [(&p, &pg, "weights"), (&m, &mg, "m"), (&v, &vg, "v")] {
        let e = rel_err(&b.to_vec_f64().unwrap(), &a.to_vec_f64().unwrap());
        println!("adam {what}: rel err {e:.2e}");
        assert!(e < 1e-5, "{what}: {e}");
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn nonfinite_flag_sees_inf_and_nan_in_any_tensor() {
    let ok = Tensor::randn(&[300, 7], 0.0, 1.0, 1, DType::BF16, GPU).unwrap();
    let mut bad = vec![0.0f32; 1000];
    bad[777] = f32::NAN;
    let bad = Tensor::from_vec(bad, &[1000], GPU).unwrap().to_dtype(DType::BF16).unwrap();
    let inf = Tensor::full(f64::INFINITY, &[3], DType::F32, GPU).unwrap();
    assert_eq!(Tensor::any_nonfinite(&[&ok, &ok]).unwrap().to_vec::<i32>().unwrap(), vec![0]);
    assert_eq!(Tensor::any_nonfinite(&[&ok, &bad]).unwrap().to_vec::<i32>().unwrap(), vec![1]);
    assert_eq!(Tensor::any_nonfinite(&[&inf, &ok]).unwrap().to_vec::<i32>().unwrap(), vec![1]);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn large_bf16_matmul_against_the_cpu_and_tf32_switch() {
    poison();
    let a = Tensor::randn(&[2, 333, 517], 0.0, 1.0, 1, DType::F32, Device::Cpu).unwrap();
    let b = Tensor::randn(&[517, 259], 0.0, 1.0, 2, DType::F32, Device::Cpu).unwrap();
    let want = a.to_dtype(DType::BF16).unwrap().to_dtype(DType::F32).unwrap().matmul(&b.to_dtype(DType::BF16).unwrap().to_dtype(DType::F32).unwrap()).unwrap();
    let got = a.to_dtype(DType::BF16).unwrap().to_device(GPU).unwrap().matmul(&b.to_dtype(DType::BF16).unwrap().to_device(GPU).unwrap()).unwrap();
    let e = rel_err(&got.to_vec_f64().unwrap(), &want.to_vec_f64().unwrap());
    println!("bf16 matmul [2,333,517]@[517,259]: rel err {e:.2e}");
    assert!(e < 1e-2);
    let exact = a.matmul(&b).unwrap().to_vec_f64().unwrap();
    let (ag, bg) = (a.to_device(GPU).unwrap(), b.to_device(GPU).unwrap());
    let e32 = rel_err(&ag.matmul(&bg).unwrap().to_vec_f64().unwrap(), &exact);
    kernels::cuda::blas::set_tf32(true);
    let etf = rel_err(&ag.matmul(&bg).unwrap().to_vec_f64().unwrap(), &exact);
    kernels::cuda::blas::set_tf32(false);
    println!("f32 matmul rel err: exact fp32 {e32:.2e}, TF32 {etf:.2e}");
    assert!(e32 < 1e-5 && etf < 1e-2);
}
