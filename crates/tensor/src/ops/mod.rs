//! Forward ops on tensors. Each submodule holds one family: argument checks, then the
//! dispatch to `kernels`. The CPU dispatch shared by all of them is [`cpu`].

pub mod attention;
pub(crate) mod cpu;
pub mod elementwise;
pub mod matmul;
pub mod nn;
pub mod optim;
pub mod reduce;
