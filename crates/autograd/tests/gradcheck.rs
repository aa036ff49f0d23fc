//! Every differentiable op against central finite differences in f64, including
//! broadcasting cases and non-contiguous (view) inputs.

use autograd::gradcheck::{check, Tolerance};
use autograd::ops::attention::attention;
use autograd::{Result, Var};
use tensor::{AttnMask, DType, Device, Tensor};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, seed, DType::F64, Device::Cpu).unwrap()
}

fn positive(shape: &[usize], seed: u64) -> Tensor {
    Tensor::rand_uniform(shape, 0.5, 2.0, seed, DType::F64, Device::Cpu).unwrap()
}

fn ok(name: &str, inputs: &[Tensor], f: impl Fn(&[Var]) -> Result<Var>) {
    let worst = check(name, inputs, f, Tolerance::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(worst.is_finite());
}

#[test]
fn unary_ops() {
    let x = randn(&[3, 4], 1);
    ok("neg", &[x.clone()], |v| v[0].neg());
    ok("exp", &[x.clone()], |v| v[0].exp());
    ok("tanh", &[x.clone()], |v| v[0].tanh());
    ok("sigmoid", &[x.clone()], |v| v[0].sigmoid());
    ok("square", &[x.clone()], |v| v[0].square());
    ok("affine", &[x.clone()], |v| v[0].affine(-3.0, 0.5));
    ok("relu", &[x.clone()], |v| v[0].relu());
    ok("abs", &[x.clone()], |v| v[0].abs());
    let p = positive(&[3, 4], 2);
    ok("log", &[p.clone()], |v| v[0].log());
    ok("sqrt", &[p.clone()], |v| v[0].sqrt());
    ok("recip", &[p.clone()], |v| v[0].recip());
    ok("powf", &[p], |v| v[0].powf(1.7));
}

#[test]
fn binary_ops_with_broadcasting() {
    let a = randn(&[2, 3, 4], 3);
    let row = randn(&[4], 4);
    let col = randn(&[3, 1], 5);
    let b = randn(&[2, 3, 4], 6);
    ok("add", &[a.clone(), b.clone()], |v| v[0].add(&v[1]));
    ok("add bias [4]", &[a.clone(), row.clone()], |v| v[0].add(&v[1]));
    ok("sub column [3,1]", &[a.clone(), col.clone()], |v| v[0].sub(&v[1]));
    ok("mul broadcast both", &[col.clone(), row.clone()], |v| v[0].mul(&v[1]));
    ok("div", &[a.clone(), positive(&[3, 1], 7)], |v| v[0].div(&v[1]));
    ok("maximum", &[a.clone(), b.clone()], |v| v[0].maximum(&v[1]));
    ok("minimum", &[a, row], |v| v[0].minimum(&v[1]));
}

#[test]
fn view_ops_and_non_contiguous_inputs() {
    let x = randn(&[2, 3, 4], 8);
    ok("reshape", &[x.clone()], |v| v[0].reshape(&[6, 4]));
    ok("permute", &[x.clone()], |v| v[0].permute(&[2, 0, 1]));
    ok("transpose", &[x.clone()], |v| v[0].transpose(0, 2));
    ok("narrow", &[x.clone()], |v| v[0].narrow(1, 1, 2));
    ok("broadcast_as", &[randn(&[3, 1], 9)], |v| v[0].broadcast_as(&[2, 3, 5]));
    ok("contiguous of a permuted view", &[x.clone()], |v| v[0].permute(&[1, 2, 0])?.contiguous());
    // Ops fed views: a transposed operand, a narrowed one, a broadcast one.
    ok("exp of transpose", &[x.clone()], |v| v[0].transpose(1, 2)?.exp());
    ok("mul of narrow and transpose", &[x.clone(), randn(&[4, 2], 10)], |v| {
        v[0].narrow(1, 0, 2)?.mul(&v[1].transpose(0, 1)?.unsqueeze_for_test(0)?)
    });
}

/// Small helper so the test above reads naturally: a view adding a leading size-1 dim.
trait Unsqueeze {
    fn unsqueeze_for_test(&self, dim: usize) -> Result<Var>;
}
impl Unsqueeze for Var {
    fn unsqueeze_for_test(&self, dim: usize) -> Result<Var> {
        let mut shape = self.shape().to_vec();
        shape.insert(dim, 1);
        self.reshape(&shape)
    }
}

#[test]
fn reductions() {
    let x = randn(&[2, 3, 4], 11);
    ok("sum dim 1", &[x.clone()], |v| v[0].sum(1, false));
    ok("sum keepdim", &[x.clone()], |v| v[0].sum(2, true));
    ok("mean", &[x.clone()], |v| v[0].mean(0, false));
    ok("max", &[x.clone()], |v| v[0].max(1, false));
    ok("max keepdim", &[x.clone()], |v| v[0].max(2, true));
    ok("sum_all", &[x.clone()], |v| v[0].sum_all());
    ok("sum of transposed view", &[x], |v| v[0].transpose(0, 2)?.sum(0, false));
}

#[test]
fn matmul_batched_broadcast_and_transposed() {
    ok("matmul 2d", &[randn(&[3, 4], 12), randn(&[4, 5], 13)], |v| v[0].matmul(&v[1]));
    ok("matmul batched", &[randn(&[2, 3, 4], 14), randn(&[2, 4, 2], 15)], |v| v[0].matmul(&v[1]));
    ok("matmul linear [B,T,C]@[C,D]", &[randn(&[2, 3, 4], 16), randn(&[4, 5], 17)], |v| v[0].matmul(&v[1]));
    ok("matmul broadcast batch", &[randn(&[2, 1, 3, 4], 18), randn(&[3, 4, 2], 19)], |v| v[0].matmul(&v[1]));
    ok("matmul of transposed views", &[randn(&[4, 3], 20), randn(&[5, 4], 21)], |v| {
        v[0].transpose(0, 1)?.matmul(&v[1].transpose(0, 1)?)
    });
}

#[test]
fn linear_with_bias() {
    ok("linear 2d", &[randn(&[5, 4], 60), randn(&[4, 3], 61), randn(&[3], 62)], |v| v[0].linear(&v[1], &v[2]));
    ok("linear [B,T,C]", &[randn(&[2, 3, 4], 63), randn(&[4, 5], 64), randn(&[5], 65)], |v| v[0].linear(&v[1], &v[2]));
    ok("linear of a transposed input", &[randn(&[4, 5], 66), randn(&[4, 3], 67), randn(&[3], 68)], |v| v[0].transpose(0, 1)?.linear(&v[1], &v[2]));
}

#[test]
fn softmax_layer_norm_gelu() {
    let x = randn(&[3, 5], 22);
    ok("softmax", &[x.clone()], |v| v[0].softmax());
    ok("log_softmax", &[x.clone()], |v| v[0].log_softmax());
    ok("gelu", &[x.clone()], |v| v[0].gelu());
    ok("softmax of transpose", &[x.clone()], |v| v[0].transpose(0, 1)?.softmax());
    ok("layer_norm", &[x.clone(), randn(&[5], 23), randn(&[5], 24)], |v| v[0].layer_norm(&v[1], &v[2], 1e-5));
    ok("layer_norm of narrowed view", &[randn(&[3, 7], 25), randn(&[5], 26), randn(&[5], 27)], |v| {
        v[0].narrow(1, 1, 5)?.layer_norm(&v[1], &v[2], 1e-5)
    });
}

#[test]
fn embedding_and_cross_entropy() {
    let ids = Tensor::from_vec(vec![2i32, 0, 2, 4, 1, 2], &[2, 3], Device::Cpu).unwrap();
    ok("embedding (repeated ids)", &[randn(&[5, 3], 28)], |v| v[0].embedding(&ids));
    let targets = Tensor::from_vec(vec![1u8, 0, 3, 3], &[4], Device::Cpu).unwrap();
    ok("cross_entropy", &[randn(&[4, 5], 29)], |v| v[0].cross_entropy(&targets));
    ok("cross_entropy of a [B,T,V] reshape", &[randn(&[2, 2, 5], 30)], |v| v[0].reshape(&[4, 5])?.cross_entropy(&targets));
}

#[test]
fn dropout_replays_its_mask() {
    autograd::rng::manual_seed(3);
    ok("dropout", &[randn(&[4, 6], 31)], |v| v[0].dropout(0.3)?.mul(&v[0]));
}

#[test]
fn attention_dense_causal_and_masked() {
    let (q, k, v) = (randn(&[1, 2, 5, 3], 32), randn(&[1, 2, 5, 3], 33), randn(&[1, 2, 5, 4], 34));
    let inputs = [q, k, v];
    ok("attention dense", &inputs, |x| attention(&x[0], &x[1], &x[2], &AttnMask::None, 0.6));
    ok("attention causal", &inputs, |x| attention(&x[0], &x[1], &x[2], &AttnMask::Causal, 0.6));
    // A strided-like per-head mask: head 0 sees the previous 2 positions, head 1 every 2nd.
    let mut m = vec![0u8; 2 * 25];
    for i in 0..5 {
        for j in 0..=i {
            m[i * 5 + j] = u8::from(i - j < 2);
            m[25 + i * 5 + j] = u8::from((i - j) % 2 == 0);
        }
    }
    let mask = AttnMask::Bool(Tensor::from_vec(m, &[2, 5, 5], Device::Cpu).unwrap());
    ok("attention per-head mask", &inputs, |x| attention(&x[0], &x[1], &x[2], &mask, 0.6));
    // Queries from a transposed layout (non-contiguous input).
    ok("attention of permuted q", &[randn(&[1, 5, 2, 3], 35), inputs[1].clone(), inputs[2].clone()], |x| {
        attention(&x[0].permute(&[0, 2, 1, 3])?, &x[1], &x[2], &AttnMask::Causal, 0.6)
    });
}

#[test]
fn composite_block_with_checkpoint() {
    // Gradients through a checkpointed function match finite differences too.
    let x = randn(&[2, 3], 36);
    let w = randn(&[3, 3], 37);
    ok("checkpoint(gelu(x @ w))", &[x, w], |v| {
        let w = v[1].clone();
        let out = autograd::checkpoint(move |xs| Ok(vec![xs[0].matmul(&w)?.gelu()?]), &v[..1])?;
        Ok(out[0].clone())
    });
}

#[test]
fn the_check_catches_a_wrong_backward() {
    // y = 3x recorded with a backward that claims dy/dx = 2.
    let wrong = |v: &[Var]| -> Result<Var> {
        let y = v[0].value().scale(3.0)?;
        Ok(autograd::record1("wrong", &[&v[0]], y, vec![], |g, _, _| Ok(vec![Some(g.scale(2.0)?)])))
    };
    let err = check("wrong", &[randn(&[3], 38)], wrong, Tolerance::default()).unwrap_err().to_string();
    assert!(err.contains("gradient check of `wrong` failed"), "{err}");
}

/// A cast to bf16 and back: the gradient reaches the fp32 input in fp32.
#[test]
fn casts_pass_the_gradient_back_in_the_input_dtype() {
    let x = Var::leaf(Tensor::from_vec(vec![1.5f32, -2.0, 3.25], &[3], Device::Cpu).unwrap());
    let y = x.to_dtype(DType::BF16).unwrap().square().unwrap().sum_all().unwrap();
    assert_eq!(y.value().dtype(), DType::BF16);
    let g = y.backward().unwrap();
    let gx = g.get(&x).unwrap();
    assert_eq!(gx.dtype(), DType::F32);
    assert_eq!(gx.to_vec::<f32>().unwrap(), vec![3.0, -4.0, 6.5]);
}
