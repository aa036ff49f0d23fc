//! One test body, run on every device: each differentiable op, forward and backward, on
//! shapes that are not multiples of any tile size, compared with an f64 CPU reference.
//!
//! For every case: build the inputs in f64, compute `L = sum(f(x) * r)` and its gradients on
//! the CPU in f64 (the reference), then the same on the device under test in the dtype under
//! test, and compare the output and every input gradient by relative error
//! `||out - ref|| / ||ref||`. On CUDA every new buffer is poisoned with NaN first, so an
//! output a kernel forgets to write fails the comparison.
//!
//! `cargo test` runs the CPU f32 and bf16 bodies; the CUDA ones are `#[ignore]`d here and run
//! on the GPU machine (`../shared/tools/gpu-pack`, then `.gpu/run-tests devices`).

use autograd::ops::attention::attention;
use autograd::{rng, Result, Var};
use tensor::{AttnMask, DType, Device, Tensor};

type CaseFn = Box<dyn Fn(&[Var], Device) -> Result<Var>>;

struct Case {
    name: &'static str,
    inputs: Vec<Tensor>,
    f: CaseFn,
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, seed, DType::F64, Device::Cpu).unwrap()
}

fn positive(shape: &[usize], seed: u64) -> Tensor {
    Tensor::rand_uniform(shape, 0.5, 2.0, seed, DType::F64, Device::Cpu).unwrap()
}

fn case(name: &'static str, inputs: Vec<Tensor>, f: impl Fn(&[Var], Device) -> Result<Var> + 'static) -> Case {
    Case { name, inputs, f: Box::new(f) }
}

fn ids(values: Vec<i32>, shape: &[usize], device: Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, shape, Device::Cpu)?.to_device(device)?)
}

fn cases() -> Vec<Case> {
    let x = || randn(&[37, 53], 1);
    let mut c = vec![
        case("neg", vec![x()], |v, _| v[0].neg()),
        case("exp", vec![x()], |v, _| v[0].exp()),
        case("log", vec![positive(&[37, 53], 2)], |v, _| v[0].log()),
        case("sqrt", vec![positive(&[37, 53], 3)], |v, _| v[0].sqrt()),
        case("recip", vec![positive(&[37, 53], 4)], |v, _| v[0].recip()),
        case("tanh", vec![x()], |v, _| v[0].tanh()),
        case("sigmoid", vec![x()], |v, _| v[0].sigmoid()),
        case("relu", vec![x()], |v, _| v[0].relu()),
        case("abs", vec![x()], |v, _| v[0].abs()),
        case("square", vec![x()], |v, _| v[0].square()),
        case("affine", vec![x()], |v, _| v[0].affine(-1.5, 0.25)),
        case("powf", vec![positive(&[37, 53], 5)], |v, _| v[0].powf(1.5)),
        case("gelu", vec![x()], |v, _| v[0].gelu()),
        case("add", vec![randn(&[5, 37, 53], 6), randn(&[5, 37, 53], 7)], |v, _| v[0].add(&v[1])),
        case("add bias [53]", vec![randn(&[5, 37, 53], 8), randn(&[53], 9)], |v, _| v[0].add(&v[1])),
        case("sub column [37,1]", vec![randn(&[5, 37, 53], 10), randn(&[37, 1], 11)], |v, _| v[0].sub(&v[1])),
        case("mul", vec![randn(&[5, 37, 53], 12), randn(&[5, 37, 53], 13)], |v, _| v[0].mul(&v[1])),
        case("div", vec![randn(&[37, 53], 14), positive(&[37, 53], 15)], |v, _| v[0].div(&v[1])),
        case("maximum", vec![randn(&[37, 53], 16), randn(&[37, 53], 17)], |v, _| v[0].maximum(&v[1])),
        case("minimum", vec![randn(&[37, 53], 18), randn(&[53], 19)], |v, _| v[0].minimum(&v[1])),
        case("sum dim 1", vec![randn(&[5, 37, 53], 20)], |v, _| v[0].sum(1, false)),
        case("sum last dim", vec![randn(&[5, 37, 53], 21)], |v, _| v[0].sum(2, true)),
        case("mean", vec![randn(&[5, 37, 53], 22)], |v, _| v[0].mean(0, false)),
        case("max", vec![randn(&[5, 37, 53], 23)], |v, _| v[0].max(1, false)),
        case("softmax", vec![randn(&[37, 301], 24)], |v, _| v[0].softmax()),
        case("log_softmax", vec![randn(&[37, 301], 25)], |v, _| v[0].log_softmax()),
        case("layer_norm", vec![randn(&[37, 301], 26), randn(&[301], 27), randn(&[301], 28)], |v, _| v[0].layer_norm(&v[1], &v[2], 1e-5)),
        // Row lengths that take the GPU's packed paths: rows held in registers (512), and
        // rows too long for registers (4104).
        case("softmax rows in registers", vec![randn(&[37, 512], 49)], |v, _| v[0].softmax()),
        case("log_softmax long rows", vec![randn(&[5, 4104], 50)], |v, _| v[0].log_softmax()),
        case("layer_norm rows in registers", vec![randn(&[37, 512], 51), randn(&[512], 52), randn(&[512], 53)], |v, _| v[0].layer_norm(&v[1], &v[2], 1e-5)),
        case("layer_norm short rows", vec![randn(&[37, 64], 57), randn(&[64], 58), randn(&[64], 59)], |v, _| v[0].layer_norm(&v[1], &v[2], 1e-5)),
        case("layer_norm long rows", vec![randn(&[5, 4104], 54), randn(&[4104], 55), randn(&[4104], 56)], |v, _| v[0].layer_norm(&v[1], &v[2], 1e-5)),
        case("matmul", vec![randn(&[67, 45], 29), randn(&[45, 29], 30)], |v, _| v[0].matmul(&v[1])),
        case("matmul linear [3,37,45]@[45,29]", vec![randn(&[3, 37, 45], 31), randn(&[45, 29], 32)], |v, _| v[0].matmul(&v[1])),
        case("matmul batched", vec![randn(&[3, 37, 45], 33), randn(&[3, 45, 29], 34)], |v, _| v[0].matmul(&v[1])),
        case("matmul broadcast batch", vec![randn(&[2, 1, 37, 45], 35), randn(&[3, 45, 29], 36)], |v, _| v[0].matmul(&v[1])),
        case("matmul transposed views", vec![randn(&[45, 67], 37), randn(&[29, 45], 38)], |v, _| v[0].transpose(0, 1)?.matmul(&v[1].transpose(0, 1)?)),
        case("linear (bias epilogue)", vec![randn(&[3, 37, 45], 70), randn(&[45, 29], 71), randn(&[29], 72)], |v, _| v[0].linear(&v[1], &v[2])),
        case("linear of a transposed input", vec![randn(&[45, 37], 73), randn(&[45, 29], 74), randn(&[29], 75)], |v, _| v[0].transpose(0, 1)?.linear(&v[1], &v[2])),
        case("narrow", vec![randn(&[5, 37, 53], 39)], |v, _| v[0].narrow(2, 3, 41)),
        case("permute + contiguous", vec![randn(&[5, 37, 53], 40)], |v, _| v[0].permute(&[2, 0, 1])?.contiguous()),
        case("exp of a transposed view", vec![randn(&[37, 53], 41)], |v, _| v[0].transpose(0, 1)?.exp()),
        case("broadcast_as", vec![randn(&[37, 1], 42)], |v, _| v[0].broadcast_as(&[3, 37, 53])),
        case("embedding", vec![randn(&[61, 45], 43)], |v, d| {
            let i: Vec<i32> = (0..111).map(|k| (k * 7 % 61) as i32).collect();
            v[0].embedding(&ids(i, &[3, 37], d)?)
        }),
        case("cross_entropy", vec![randn(&[111, 67], 44)], |v, d| {
            let t: Vec<i32> = (0..111).map(|k| (k * 13 % 67) as i32).collect();
            v[0].cross_entropy(&ids(t, &[111], d)?)
        }),
        case("dropout", vec![randn(&[37, 53], 45)], |v, _| v[0].dropout(0.3)),
    ];
    let qkv = || vec![randn(&[2, 3, 37, 16], 46), randn(&[2, 3, 37, 16], 47), randn(&[2, 3, 37, 24], 48)];
    c.push(case("attention causal", qkv(), |v, _| attention(&v[0], &v[1], &v[2], &AttnMask::Causal, 0.25)));
    c.push(case("attention dense", qkv(), |v, _| attention(&v[0], &v[1], &v[2], &AttnMask::None, 0.25)));
    c.push(case("attention per-head mask", qkv(), |v, d| {
        // head h sees the previous h+2 positions and every 5th earlier one
        let mut m = vec![0u8; 3 * 37 * 37];
        for h in 0..3 {
            for i in 0..37 {
                for j in 0..=i {
                    m[(h * 37 + i) * 37 + j] = u8::from(i - j < h + 2 || (i - j) % 5 == 0);
                }
            }
        }
        let mask = AttnMask::Bool(Tensor::from_vec(m, &[3, 37, 37], Device::Cpu)?.to_device(d)?);
        attention(&v[0], &v[1], &v[2], &mask, 0.25)
    }));
    c
}

fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = want.iter().map(|b| b * b).sum();
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

/// Output and input gradients of `L = sum(f(x) * r)`, as f64 vectors. Inputs and `r` are
/// first rounded to `rounding`, so that the reference sees exactly the values under test
/// (otherwise bf16 rounding alone can change which element a `max` picks).
///
/// In f16 the loss is multiplied by `LOSS_SCALE` before the backward pass and the gradients
/// divided by it after, as dynamic loss scaling does in training: small gradients (the
/// cross-entropy's `(p - onehot) / rows`) would otherwise fall below f16's normal range.
fn run(case: &Case, device: Device, dtype: DType, rounding: DType) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    const LOSS_SCALE: f64 = 1024.0;
    let scale = if dtype == DType::F16 { LOSS_SCALE } else { 1.0 };
    rng::manual_seed(99);
    let prepare = |t: &Tensor| -> Result<Tensor> { Ok(t.to_dtype(rounding)?.to_dtype(dtype)?.to_device(device)?) };
    let leaves: Vec<Var> = case.inputs.iter().map(|t| Ok(Var::leaf(prepare(t)?))).collect::<Result<_>>()?;
    let out = (case.f)(&leaves, device)?;
    // The loss of a bf16 model is f32 (statistics stay in fp32): r takes the output's dtype.
    let r = prepare(&Tensor::randn(out.shape(), 0.0, 1.0, 7, DType::F64, Device::Cpu)?)?.to_dtype(out.value().dtype())?;
    let loss = out.mul(&Var::constant(r))?.sum_all()?.scale(scale)?;
    let grads = loss.backward()?;
    let mut g = Vec::new();
    for l in &leaves {
        g.push(match grads.get(l) {
            Some(t) => t.to_vec_f64()?.into_iter().map(|x| x / scale).collect(),
            None => vec![0.0; l.value().numel()],
        });
    }
    Ok((out.value().to_vec_f64()?, g))
}

/// Runs every case on `device` in `dtype` against the f64 CPU reference.
fn check_every_op(device: Device, dtype: DType, tol: f64) {
    if device != Device::Cpu {
        kernels::cuda::set_poison(true);
    }
    let mut failures = Vec::new();
    for case in cases() {
        let (want_out, want_grads) = run(&case, Device::Cpu, DType::F64, dtype).unwrap_or_else(|e| panic!("{}: reference failed: {e}", case.name));
        let (out, grads) = match run(&case, device, dtype, dtype) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        let mut worst = rel_err(&out, &want_out);
        for (g, w) in grads.iter().zip(&want_grads) {
            worst = worst.max(rel_err(g, w));
        }
        println!("{device} {dtype} {:<36} max rel err {worst:.2e}", case.name);
        if !(worst <= tol) {
            failures.push(format!("{}: relative error {worst:.3e} > {tol:.0e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{device} {dtype}:\n{}", failures.join("\n"));
}

#[test]
fn cpu_f32() {
    check_every_op(Device::Cpu, DType::F32, 1e-5);
}

#[test]
fn cpu_bf16() {
    check_every_op(Device::Cpu, DType::BF16, 1e-2);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_f32() {
    check_every_op(Device::Cuda(0), DType::F32, 1e-5);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_bf16() {
    check_every_op(Device::Cuda(0), DType::BF16, 1e-2);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_f16() {
    check_every_op(Device::Cuda(0), DType::F16, 1e-2);
}
