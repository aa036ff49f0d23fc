//! Wrong shapes, dtypes or devices give an error that names the op and what was wrong,
//! never a panic.

use tensor::{AdamParams, AttnMask, DType, Device, Tensor};

fn f32s(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F32, Device::Cpu).unwrap()
}

/// Asserts that `r` is an error whose message contains every one of `needles`.
fn err_names<T: std::fmt::Debug>(r: tensor::Result<T>, needles: &[&str]) {
    let msg = r.expect_err("expected an error").to_string();
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} should mention {n:?}");
    }
}

#[test]
fn shape_errors_name_the_op_and_shapes() {
    err_names(f32s(&[2, 3]).matmul(&f32s(&[4, 5])), &["matmul", "[2, 3]", "[4, 5]"]);
    err_names(f32s(&[3]).matmul(&f32s(&[3, 2])), &["matmul", "at least 2 dimensions"]);
    err_names(f32s(&[2, 2, 3]).matmul(&f32s(&[3, 3, 4])), &["matmul", "batch"]);
    err_names(f32s(&[2, 3]).add(&f32s(&[4])), &["add", "[2, 3]", "[4]"]);
    err_names(f32s(&[2, 3]).mul(&f32s(&[2, 1, 2])), &["mul"]);
    err_names(f32s(&[2, 3]).reshape(&[4, 2]), &["reshape", "[2, 3]", "[4, 2]"]);
    err_names(f32s(&[2, 3]).narrow(1, 2, 2), &["narrow", "[2, 3]"]);
    err_names(f32s(&[2, 3]).permute(&[0, 0]), &["permute"]);
    err_names(f32s(&[2, 3]).transpose(0, 2), &["transpose", "dimension 2", "rank 2"]);
    err_names(f32s(&[2, 3]).broadcast_as(&[2, 4]), &["broadcast_as", "[2, 3]", "[2, 4]"]);
    err_names(f32s(&[2, 3]).sum(5, false), &["sum", "dimension 5"]);
    err_names(f32s(&[]).softmax(), &["softmax"]);
    err_names(f32s(&[2, 3]).layer_norm(&f32s(&[2]), &f32s(&[3]), 1e-5), &["layer_norm (gamma)", "[2]", "[3]"]);
    err_names(f32s(&[2, 3, 4]).embedding(&Tensor::zeros(&[2], DType::I32, Device::Cpu).unwrap()), &["embedding", "[2, 3, 4]"]);
    err_names(f32s(&[4, 5]).cross_entropy(&Tensor::zeros(&[3], DType::U8, Device::Cpu).unwrap()), &["cross_entropy", "[4, 5]", "[3]"]);
    let q = f32s(&[1, 2, 4, 8]);
    err_names(Tensor::attention(&q, &f32s(&[1, 2, 4, 6]), &q, &AttnMask::Causal, 1.0), &["attention", "[1, 2, 4, 8]", "[1, 2, 4, 6]"]);
    err_names(Tensor::attention(&q, &q, &f32s(&[1, 2, 5, 8]), &AttnMask::Causal, 1.0), &["attention", "v must match k"]);
    err_names(Tensor::attention(&f32s(&[2, 4, 8]), &q, &q, &AttnMask::None, 1.0), &["attention", "[batch, heads, time, head_dim]"]);
    err_names(Tensor::from_vec(vec![1.0f32; 5], &[2, 3], Device::Cpu), &["from_storage", "5 elements", "[2, 3]"]);
    err_names(f32s(&[2, 3]).to_scalar_f64(), &["to_scalar", "[2, 3]"]);
}

#[test]
fn dtype_errors_name_the_op_and_dtypes() {
    let ints = Tensor::zeros(&[2, 3], DType::I32, Device::Cpu).unwrap();
    err_names(ints.exp(), &["unary", "i32"]);
    err_names(f32s(&[2, 3]).add(&Tensor::zeros(&[2, 3], DType::BF16, Device::Cpu).unwrap()), &["add", "bf16", "f32"]);
    err_names(f32s(&[2, 3]).matmul(&Tensor::zeros(&[3, 2], DType::F64, Device::Cpu).unwrap()), &["matmul", "f64"]);
    err_names(f32s(&[4, 3]).embedding(&f32s(&[2])), &["embedding", "f32"]);
    err_names(f32s(&[2, 3]).to_vec::<f64>(), &["to_vec", "f32", "f64"]);
    let q = f32s(&[1, 1, 2, 2]);
    err_names(Tensor::attention(&q, &q, &q, &AttnMask::Bool(f32s(&[2, 2])), 1.0), &["attention (mask)", "u8"]);
    let bf = Tensor::zeros(&[3], DType::BF16, Device::Cpu).unwrap();
    let h = AdamParams { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0, step: 1 };
    err_names(bf.adam_step(&bf, &bf, &bf, h), &["adam_step", "bf16"]);
}

/// A device that does not exist: on a machine without a driver every CUDA device is such
/// (the error says the library is missing); on a GPU machine, ordinal 99 is.
#[test]
fn device_errors_name_the_op_and_device() {
    let absent = Device::Cuda(99);
    err_names(Tensor::zeros(&[2], DType::F32, absent), &["zeros", "cuda:99"]);
    err_names(Tensor::randn(&[2], 0.0, 1.0, 1, DType::F32, absent), &["randn", "cuda:99"]);
    err_names(f32s(&[2]).to_device(absent), &["to_device", "cuda:99"]);
    err_names(Tensor::from_vec(vec![1u8], &[1], absent), &["from_vec", "cuda:99"]);
}

#[test]
fn bad_values_are_errors_too() {
    err_names(f32s(&[4]).dropout(1.0, 0), &["dropout", "outside [0, 1)"]);
    let logits = f32s(&[2, 4]);
    err_names(logits.cross_entropy(&Tensor::from_vec(vec![0i32, 4], &[2], Device::Cpu).unwrap()), &["cross_entropy", "index 4"]);
    err_names(f32s(&[3, 2]).embedding(&Tensor::from_vec(vec![3u8], &[1], Device::Cpu).unwrap()), &["embedding", "index 3"]);
    let p = f32s(&[3]);
    let h = AdamParams { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0, step: 1 };
    err_names(p.adam_step(&f32s(&[3]), &p, &f32s(&[3]), h), &["adam_step", "distinct"]);
    err_names(p.adam_step(&f32s(&[4]), &f32s(&[3]), &f32s(&[3]), h), &["adam_step", "[4]", "[3]"]);
}
