use crate::storage::CpuStorage;
use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor, known at run time (a model switches precision by config,
/// not by recompiling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// Double precision: the dtype of finite-difference gradient checks.
    F64,
    F32,
    BF16,
    F16,
    /// Token ids and targets.
    I32,
    /// Raw bytes: the paper's data is byte sequences.
    U8,
}

impl DType {
    pub fn size_in_bytes(self) -> usize {
        crate::cuda::elem_of(self).size()
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F64 | DType::F32 | DType::BF16 | DType::F16)
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            DType::I32 => "i32",
            DType::U8 => "u8",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust element type that has a [`DType`]: what `Tensor::from_vec` takes and `to_vec` gives.
pub trait WithDType: Copy + Send + Sync + 'static {
    const DTYPE: DType;
    fn into_storage(data: Vec<Self>) -> CpuStorage;
    fn slice(storage: &CpuStorage) -> Option<&[Self]>;
    fn to_f64(self) -> f64;
    fn from_f64(x: f64) -> Self;
}

macro_rules! with_dtype {
    ($t:ty, $variant:ident, |$a:ident| $to:expr, |$b:ident| $from:expr) => {
        impl WithDType for $t {
            const DTYPE: DType = DType::$variant;
            fn into_storage(data: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(data)
            }
            fn slice(storage: &CpuStorage) -> Option<&[Self]> {
                match storage {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn to_f64(self) -> f64 {
                let $a = self;
                $to
            }
            fn from_f64(x: f64) -> Self {
                let $b = x;
                $from
            }
        }
    };
}
with_dtype!(f64, F64, |x| x, |x| x);
with_dtype!(f32, F32, |x| x as f64, |x| x as f32);
with_dtype!(bf16, BF16, |x| x.to_f64(), |x| bf16::from_f32(x as f32));
with_dtype!(f16, F16, |x| x.to_f64(), |x| f16::from_f32(x as f32));
with_dtype!(i32, I32, |x| x as f64, |x| x as i32);
with_dtype!(u8, U8, |x| x as f64, |x| x as u8);
