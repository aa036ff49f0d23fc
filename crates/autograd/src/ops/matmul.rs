//! `C = A @ B`: `dA = dC @ B^T`, `dB = A^T @ dC`, each summed back over broadcast batch dims.
//! The transposes are views (no copies). When `B` is a plain matrix shared by a batch
//! (`[B, T, C] @ [C, D]`, a linear layer), `dB` is one large product over the flattened batch
//! rather than a batch of products summed afterwards.

use crate::error::Result;
use crate::tape::record1;
use crate::var::Var;

impl Var {
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
