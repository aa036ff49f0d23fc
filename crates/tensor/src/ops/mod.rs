//! Forward ops on tensors. Each submodule holds one family: argument checks, then the
//! dispatch to `kernels`. The device dispatch shared by all of them is [`dispatch`].

pub mod attention;
pub(crate) mod dispatch;
pub mod elementwise;
pub mod matmul;
pub mod nn;
pub mod optim;
pub mod reduce;
pub mod sparse_attention;
