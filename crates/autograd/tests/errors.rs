//! Misuse of the tape is an error, not a panic.

use autograd::Var;
use tensor::{DType, Device, Tensor};

#[test]
fn backward_misuse_is_reported() {
    let x = Var::leaf(Tensor::ones(&[2, 2], DType::F32, Device::Cpu).unwrap());
    let y = x.square().unwrap();
    let e = y.backward().unwrap_err().to_string();
    assert!(e.contains("one-element") && e.contains("[2, 2]"), "{e}");
    let e = y.backward_with(Tensor::ones(&[3], DType::F32, Device::Cpu).unwrap()).unwrap_err().to_string();
    assert!(e.contains("backward") && e.contains("[3]"), "{e}");
    let c = Var::constant(Tensor::ones(&[], DType::F32, Device::Cpu).unwrap());
    let e = c.exp().unwrap().backward().unwrap_err().to_string();
    assert!(e.contains("does not depend"), "{e}");
    // Op errors surface through autograd with the op's name.
    let e = x.matmul(&Var::leaf(Tensor::ones(&[3, 1], DType::F32, Device::Cpu).unwrap())).unwrap_err().to_string();
    assert!(e.contains("matmul") && e.contains("[2, 2]") && e.contains("[3, 1]"), "{e}");
}

#[test]
fn no_grad_records_nothing_and_needs_no_gradient() {
    let x = Var::leaf(Tensor::ones(&[], DType::F32, Device::Cpu).unwrap());
    let y = autograd::no_grad(|| x.exp().unwrap());
    assert!(!y.requires_grad());
    let z = x.exp().unwrap();
    let grads = z.backward().unwrap();
    assert_eq!(grads.len(), 1, "only the leaf keeps a gradient; intermediates are freed");
    assert!((grads.get(&x).unwrap().to_scalar_f64().unwrap() - 1f64.exp()).abs() < 1e-6);
}
