//! Elementwise unary and (broadcasting) binary ops.

use super::dispatch::{run_float1, Access, CudaCall, FloatKernel, Out};
use crate::error::Result;
use crate::layout::broadcast_shape;
use crate::{Tensor, WithDType};
use kernels::binary::StridedSrc;
use kernels::cuda::{launch, DevBuf};
pub use kernels::binary::BinaryOp;
pub use kernels::unary::UnaryOp;
use kernels::Float;

/// `(op code, a, b)` of the CUDA `unary` kernel (codes listed in elementwise.cu).
fn unary_code(op: UnaryOp) -> (i32, f32, f32) {
    match op {
        UnaryOp::Neg => (0, 0.0, 0.0),
        UnaryOp::Exp => (1, 0.0, 0.0),
        UnaryOp::Log => (2, 0.0, 0.0),
        UnaryOp::Sqrt => (3, 0.0, 0.0),
        UnaryOp::Recip => (4, 0.0, 0.0),
        UnaryOp::Tanh => (5, 0.0, 0.0),
        UnaryOp::Sigmoid => (6, 0.0, 0.0),
        UnaryOp::Relu => (7, 0.0, 0.0),
        UnaryOp::Abs => (8, 0.0, 0.0),
        UnaryOp::Square => (9, 0.0, 0.0),
        UnaryOp::Step => (10, 0.0, 0.0),
        UnaryOp::Sign => (11, 0.0, 0.0),
        UnaryOp::Affine { scale, shift } => (12, scale as f32, shift as f32),
        UnaryOp::Powf(p) => (13, p as f32, 0.0),
    }
}

fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Maximum => 4,
        BinaryOp::Minimum => 5,
        BinaryOp::Ge => 6,
        BinaryOp::Le => 7,
    }
}

struct Unary(UnaryOp, usize);
impl FloatKernel for Unary {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        Ok(vec![Out::Data(kernels::unary::unary(self.0, x[0]))])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let (out, y) = c.alloc(c.elem, self.1)?;
        let (code, a, b) = unary_code(self.0);
        launch::unary(c.gpu, c.elem, c.inputs[0], y, self.1, code, a, b)?;
        Ok(vec![out])
    }
}

/// Strides and offsets of both operands, already broadcast to the output shape.
struct Binary {
    op: BinaryOp,
    shape: Vec<usize>,
    a: (Vec<usize>, usize),
    b: (Vec<usize>, usize),
}
impl FloatKernel for Binary {
    fn run<T: Float + WithDType>(&self, x: &[&[T]]) -> Result<Vec<Out<T>>> {
        let a = StridedSrc { data: x[0], strides: &self.a.0, offset: self.a.1 };
        let b = StridedSrc { data: x[1], strides: &self.b.0, offset: self.b.1 };
        Ok(vec![Out::Data(kernels::binary::binary(self.op, &self.shape, a, b))])
    }
    fn run_cuda(&self, c: &CudaCall) -> Result<Vec<DevBuf>> {
        let n: usize = self.shape.iter().product();
        let (out, y) = c.alloc(c.elem, n)?;
        let dense = crate::layout::contiguous_strides(&self.shape);
        let size = c.elem.size() as u64;
        if self.a.0 == dense && self.b.0 == dense {
            let (pa, pb) = (c.inputs[0] + self.a.1 as u64 * size, c.inputs[1] + self.b.1 as u64 * size);
            launch::binary_same(c.gpu, c.elem, pa, pb, y, n, binary_code(self.op))?;
            return Ok(vec![out]);
        }
        launch::binary(c.gpu, c.elem, c.inputs[0], c.inputs[1], y, &self.shape, &self.a.0, self.a.1, &self.b.0, self.b.1, binary_code(self.op))?;
        Ok(vec![out])
    }
}

impl Tensor {
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        run_float1("unary", &Unary(op, self.numel()), &[self], Access::Contiguous, self.shape())
    }
    pub fn neg(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Neg)
    }
    pub fn exp(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Exp)
    }
    pub fn log(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Log)
    }
    pub fn sqrt(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sqrt)
    }
    pub fn recip(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Recip)
    }
    pub fn tanh(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Tanh)
    }
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sigmoid)
    }
    pub fn relu(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Relu)
    }
    pub fn square(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Square)
    }
    pub fn abs(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Abs)
    }
    /// `self * scale + shift`
    pub fn affine(&self, scale: f64, shift: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Affine { scale, shift })
    }
    pub fn scale(&self, s: f64) -> Result<Tensor> {
        self.affine(s, 0.0)
    }
    pub fn powf(&self, p: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Powf(p))
    }

    /// `op(self, rhs)` with numpy broadcasting; neither operand is materialised at the
    /// broadcast shape.
    pub fn binary(&self, op: BinaryOp, rhs: &Tensor) -> Result<Tensor> {
        let name = match op {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Ge => "ge",
            BinaryOp::Le => "le",
        };
        self.same_kind(name, rhs)?;
        let shape = broadcast_shape(name, self.shape(), rhs.shape())?;
        let (la, lb) = (self.layout().broadcast_as(&shape)?, rhs.layout().broadcast_as(&shape)?);
        let k = Binary {
            op,
            a: (la.strides().to_vec(), la.offset()),
            b: (lb.strides().to_vec(), lb.offset()),
            shape: shape.clone(),
        };
        run_float1(name, &k, &[self, rhs], Access::Strided, &shape)
    }
    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Add, rhs)
    }
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Sub, rhs)
    }
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Mul, rhs)
    }
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Div, rhs)
    }
    pub fn maximum(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Maximum, rhs)
    }
    pub fn minimum(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Minimum, rhs)
    }
    /// `1.0` where `self >= rhs`, else `0.0`, in the operands' dtype.
    pub fn ge(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Ge, rhs)
    }
    /// `1.0` where `self <= rhs`, else `0.0`.
    pub fn le(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Le, rhs)
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Device, Tensor};

    #[test]
    fn broadcasting_add_and_errors() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], Device::Cpu).unwrap();
        let b = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3], Device::Cpu).unwrap();
        assert_eq!(a.add(&b).unwrap().to_vec::<f32>().unwrap(), vec![11., 22., 33., 14., 25., 36.]);
        // a transposed view against a column: [3, 2] + [3, 1]
        let c = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3, 1], Device::Cpu).unwrap();
        let at = a.transpose(0, 1).unwrap();
        assert_eq!(at.mul(&c).unwrap().to_vec::<f32>().unwrap(), vec![1., 4., 4., 10., 9., 18.]);
        let e = a.add(&Tensor::zeros(&[2], DType::F32, Device::Cpu).unwrap()).unwrap_err().to_string();
        assert!(e.contains("add") && e.contains("[2, 3]") && e.contains("[2]"), "{e}");
        let e = a.add(&Tensor::zeros(&[3], DType::F64, Device::Cpu).unwrap()).unwrap_err().to_string();
        assert!(e.contains("add") && e.contains("f64"), "{e}");
    }

    #[test]
    fn bf16_computes_through_f32() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0], &[2], Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap();
        let y = a.exp().unwrap();
        assert_eq!(y.dtype(), DType::BF16);
        let v = y.to_vec_f64().unwrap();
        assert!((v[1] - 2f64.exp()).abs() < 0.05);
    }
}
