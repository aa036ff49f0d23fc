//! `C = A @ B`: `dA = dC @ B^T`, `dB = A^T @ dC`, each summed back over broadcast batch dims.
//! The transposes are views (no copies). When `B` is a plain matrix shared by a batch
//! (`[B, T, C] @ [C, D]`, a linear layer), `dB` is one large product over the flattened batch
//! rather than a batch of products summed afterwards.

use crate::error::Result;
use crate::tape::record1;
use crate::var::Var;

impl Var {
    /// A linear layer `x @ w + b` (`w: [k, n]`, `b: [n]`), the bias fused into the matmul
    /// on a GPU. Backward: `dx = g w^T`, `dw = x^T g` over the flattened batch, `db = sum g`.
    pub fn linear(&self, w: &Var, b: &Var) -> Result<Var> {
        let y = self.value.matmul_bias(&w.value, &b.value)?;
        let saved = vec![self.value.clone(), w.value.clone()];
        let n = b.shape()[0];
        Ok(record1("linear", &[self, w, b], y, saved, move |g, s, needs| {
            let (x, w) = (&s[0], &s[1]);
            let (rx, rw) = (x.rank(), w.rank());
            let dx = if needs[0] { Some(g.matmul(&w.transpose(rw - 2, rw - 1)?)?.sum_to_shape(x.shape())?) } else { None };
            let dw = if needs[1] {
                let k = x.shape()[rx - 1];
                Some(x.reshape(&[usize::MAX, k])?.transpose(0, 1)?.matmul(&g.reshape(&[usize::MAX, n])?)?.sum_to_shape(w.shape())?)
            } else {
                None
            };
            let db = if needs[2] { Some(g.sum_to_shape(&[n])?) } else { None };
            Ok(vec![dx, dw, db])
        }))
    }

    pub fn matmul(&self, rhs: &Var) -> Result<Var> {
        let y = self.value.matmul(&rhs.value)?;
        let saved = vec![self.value.clone(), rhs.value.clone()];
        Ok(record1("matmul", &[self, rhs], y, saved, move |g, s, needs| {
            let (a, b) = (&s[0], &s[1]);
            let (ra, rb) = (a.rank(), b.rank());
            let da = if needs[0] { Some(g.matmul(&b.transpose(rb - 2, rb - 1)?)?.sum_to_shape(a.shape())?) } else { None };
            let db = if !needs[1] {
                None
            } else if rb == 2 && ra > 2 {
                let k = a.shape()[ra - 1];
                let n = g.shape()[g.rank() - 1];
                let a2 = a.reshape(&[usize::MAX, k])?;
                let g2 = g.reshape(&[usize::MAX, n])?;
                Some(a2.transpose(0, 1)?.matmul(&g2)?)
            } else {
                Some(a.transpose(ra - 2, ra - 1)?.matmul(&g)?.sum_to_shape(b.shape())?)
            };
            Ok(vec![da, db])
        }))
    }
}
