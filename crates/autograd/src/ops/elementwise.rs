//! Elementwise ops. Derivatives, with `g` the output gradient:
//! `exp: g y`, `log: g / x`, `sqrt: g / (2 y)`, `tanh: g (1 - y^2)`, `sigmoid: g y (1 - y)`,
//! `square: 2 g x`, `affine(s, b): s g`, `powf(p): g p x^(p-1)`, `recip: -g y^2`,
//! `relu: g [x > 0]`, `abs: g sign(x)`; binary ops sum their gradients back over broadcast
//! dimensions, and `maximum`/`minimum` send it to the operand they picked.

use crate::error::Result;
use crate::tape::record1;
use crate::var::Var;
use tensor::{BinaryOp, Tensor, UnaryOp};

/// The gradient of a unary op from `g`, the input `x` and the output `y`.
fn unary_grad(op: UnaryOp, g: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(match op {
        UnaryOp::Neg => g.neg()?,
        UnaryOp::Exp => g.mul(y)?,
        UnaryOp::Log => g.div(x)?,
        UnaryOp::Sqrt => g.div(&y.scale(2.0)?)?,
        UnaryOp::Recip => g.mul(&y.square()?)?.neg()?,
        UnaryOp::Tanh => g.mul(&y.square()?.affine(-1.0, 1.0)?)?,
        UnaryOp::Sigmoid => g.mul(&y.mul(&y.affine(-1.0, 1.0)?)?)?,
        UnaryOp::Square => g.mul(&x.scale(2.0)?)?,
        UnaryOp::Affine { scale, .. } => g.scale(scale)?,
        UnaryOp::Powf(p) => g.mul(&x.powf(p - 1.0)?.scale(p)?)?,
        UnaryOp::Relu => g.mul(&x.unary(UnaryOp::Step)?)?,
        UnaryOp::Abs => g.mul(&x.unary(UnaryOp::Sign)?)?,
        // Piecewise constant: zero gradient almost everywhere.
        UnaryOp::Step | UnaryOp::Sign => g.scale(0.0)?,
    })
}

impl Var {
    pub fn unary(&self, op: UnaryOp) -> Result<Var> {
        let y = self.value.unary(op)?;
        let saved = vec![self.value.clone(), y.clone()];
        Ok(record1("unary", &[self], y, saved, move |g, s, _| Ok(vec![Some(unary_grad(op, &g, &s[0], &s[1])?)])))
    }
    pub fn neg(&self) -> Result<Var> {
        self.unary(UnaryOp::Neg)
    }
    pub fn exp(&self) -> Result<Var> {
        self.unary(UnaryOp::Exp)
    }
    pub fn log(&self) -> Result<Var> {
        self.unary(UnaryOp::Log)
    }
    pub fn sqrt(&self) -> Result<Var> {
        self.unary(UnaryOp::Sqrt)
    }
    pub fn recip(&self) -> Result<Var> {
        self.unary(UnaryOp::Recip)
    }
    pub fn tanh(&self) -> Result<Var> {
        self.unary(UnaryOp::Tanh)
    }
    pub fn sigmoid(&self) -> Result<Var> {
        self.unary(UnaryOp::Sigmoid)
    }
    pub fn square(&self) -> Result<Var> {
        self.unary(UnaryOp::Square)
    }
    pub fn relu(&self) -> Result<Var> {
        self.unary(UnaryOp::Relu)
    }
    pub fn abs(&self) -> Result<Var> {
        self.unary(UnaryOp::Abs)
    }
    /// `self * scale + shift`
    pub fn affine(&self, scale: f64, shift: f64) -> Result<Var> {
        self.unary(UnaryOp::Affine { scale, shift })
    }
    pub fn scale(&self, s: f64) -> Result<Var> {
        self.affine(s, 0.0)
    }
    pub fn powf(&self, p: f64) -> Result<Var> {
        self.unary(UnaryOp::Powf(p))
    }

    /// Broadcasting binary op. Saves only the operands the gradient formula needs.
    pub fn binary(&self, op: BinaryOp, rhs: &Var) -> Result<Var> {
        let y = self.value.binary(op, &rhs.value)?;
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let saved = match op {
            BinaryOp::Add | BinaryOp::Sub => vec![],
            _ => vec![self.value.clone(), rhs.value.clone()],
        };
        Ok(record1("binary", &[self, rhs], y, saved, move |g, s, needs| {
            let (ga, gb) = match op {
                BinaryOp::Add => (Some(g.clone()), Some(g)),
                BinaryOp::Sub => (Some(g.clone()), Some(g.neg()?)),
                BinaryOp::Mul => (
                    if needs[0] { Some(g.mul(&s[1])?) } else { None },
                    if needs[1] { Some(g.mul(&s[0])?) } else { None },
                ),
                BinaryOp::Div => (
                    if needs[0] { Some(g.div(&s[1])?) } else { None },
                    if needs[1] { Some(g.mul(&s[0])?.div(&s[1].square()?)?.neg()?) } else { None },
                ),
                BinaryOp::Maximum | BinaryOp::Minimum => {
                    // The gradient goes to the selected operand (to `a` on ties).
                    let pick_a = if op == BinaryOp::Maximum { s[0].ge(&s[1])? } else { s[0].le(&s[1])? };
                    let ga = g.mul(&pick_a)?;
                    let gb = g.sub(&ga)?;
                    (Some(ga), Some(gb))
                }
                // Comparisons are piecewise constant.
                BinaryOp::Ge | BinaryOp::Le => (None, None),
            };
            let reduce = |g: Option<Tensor>, need: bool, shape: &[usize]| -> Result<Option<Tensor>> {
                Ok(match (g, need) {
                    (Some(g), true) => Some(g.sum_to_shape(shape)?),
                    _ => None,
                })
            };
            Ok(vec![reduce(ga, needs[0], &sa)?, reduce(gb, needs[1], &sb)?])
        }))
    }
    pub fn add(&self, rhs: &Var) -> Result<Var> {
        self.binary(BinaryOp::Add, rhs)
    }
    pub fn sub(&self, rhs: &Var) -> Result<Var> {
        self.binary(BinaryOp::Sub, rhs)
    }
    pub fn mul(&self, rhs: &Var) -> Result<Var> {
        self.binary(BinaryOp::Mul, rhs)
    }
    pub fn div(&self, rhs: &Var) -> Result<Var> {
        self.binary(BinaryOp::Div, rhs)
    }
    pub fn maximum(&self, rhs: &Var) -> Result<Var> {
        self.binary(BinaryOp::Maximum, rhs)
    }
    pub fn minimum(&self, rhs: &Var) -> Result<Var> {
        self.binary(BinaryOp::Minimum, rhs)
    }
}
