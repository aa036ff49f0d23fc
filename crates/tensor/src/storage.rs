//! The buffers behind tensors.

use crate::{DType, Device};
use half::{bf16, f16};

/// A buffer in host memory, one variant per dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum CpuStorage {
    F64(Vec<f64>),
    F32(Vec<f32>),
    BF16(Vec<bf16>),
    F16(Vec<f16>),
    I32(Vec<i32>),
    U8(Vec<u8>),
}

/// A buffer on some device. Every dispatch in `ops` matches on this.
#[derive(Debug)]
pub enum Storage {
    Cpu(CpuStorage),
    Cuda(crate::cuda::CudaStorage),
}

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::F64(_) => DType::F64,
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::I32(_) => DType::I32,
            CpuStorage::U8(_) => DType::U8,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            CpuStorage::F64(v) => v.len(),
            CpuStorage::F32(v) => v.len(),
            CpuStorage::BF16(v) => v.len(),
            CpuStorage::F16(v) => v.len(),
            CpuStorage::I32(v) => v.len(),
            CpuStorage::U8(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` zeros of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> Self {
        match dtype {
            DType::F64 => CpuStorage::F64(vec![0.0; n]),
            DType::F32 => CpuStorage::F32(vec![0.0; n]),
            DType::BF16 => CpuStorage::BF16(vec![bf16::ZERO; n]),
            DType::F16 => CpuStorage::F16(vec![f16::ZERO; n]),
            DType::I32 => CpuStorage::I32(vec![0; n]),
            DType::U8 => CpuStorage::U8(vec![0; n]),
        }
    }

    /// Builds a buffer of `dtype` from `f64` values (rounding to the target precision).
    ///
    /// Half types are reached through f32, as on the GPU (`__float2bfloat16_rn` of a float):
    /// the two devices then round identically. (`half`'s direct `bf16::from_f64` also
    /// mis-rounds some values: 1.003907 gives 1.0 instead of 1.0078125.)
    pub fn from_f64(dtype: DType, v: impl Iterator<Item = f64>) -> Self {
        match dtype {
            DType::F64 => CpuStorage::F64(v.collect()),
            DType::F32 => CpuStorage::F32(v.map(|x| x as f32).collect()),
            DType::BF16 => CpuStorage::BF16(v.map(|x| bf16::from_f32(x as f32)).collect()),
            DType::F16 => CpuStorage::F16(v.map(|x| f16::from_f32(x as f32)).collect()),
            DType::I32 => CpuStorage::I32(v.map(|x| x as i32).collect()),
            DType::U8 => CpuStorage::U8(v.map(|x| x as u8).collect()),
        }
    }

    /// Element `i` as `f64`.
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            CpuStorage::F64(v) => v[i],
            CpuStorage::F32(v) => v[i] as f64,
            CpuStorage::BF16(v) => v[i].to_f64(),
            CpuStorage::F16(v) => v[i].to_f64(),
            CpuStorage::I32(v) => v[i] as f64,
            CpuStorage::U8(v) => v[i] as f64,
        }
    }

    /// The raw bytes of the buffer (native endianness), for copies to a device.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            CpuStorage::F64(v) => bytemuck::cast_slice(v),
            CpuStorage::F32(v) => bytemuck::cast_slice(v),
            CpuStorage::BF16(v) => bytemuck::cast_slice(v),
            CpuStorage::F16(v) => bytemuck::cast_slice(v),
            CpuStorage::I32(v) => bytemuck::cast_slice(v),
            CpuStorage::U8(v) => v,
        }
    }

    /// The elements as raw bytes, writable in place.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        match self {
            CpuStorage::F64(v) => bytemuck::cast_slice_mut(v),
            CpuStorage::F32(v) => bytemuck::cast_slice_mut(v),
            CpuStorage::BF16(v) => bytemuck::cast_slice_mut(v),
            CpuStorage::F16(v) => bytemuck::cast_slice_mut(v),
            CpuStorage::I32(v) => bytemuck::cast_slice_mut(v),
            CpuStorage::U8(v) => v,
        }
    }

    /// A buffer of `dtype` from raw bytes (as produced by [`CpuStorage::as_bytes`]).
    pub fn from_bytes(dtype: DType, bytes: &[u8]) -> Self {
        fn cast<T: bytemuck::Pod>(b: &[u8]) -> Vec<T> {
            bytemuck::pod_collect_to_vec(b)
        }
        match dtype {
            DType::F64 => CpuStorage::F64(cast(bytes)),
            DType::F32 => CpuStorage::F32(cast(bytes)),
            DType::BF16 => CpuStorage::BF16(cast(bytes)),
            DType::F16 => CpuStorage::F16(cast(bytes)),
            DType::I32 => CpuStorage::I32(cast(bytes)),
            DType::U8 => CpuStorage::U8(bytes.to_vec()),
        }
    }

    /// The whole buffer widened to f32 (for half-precision compute on the CPU).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match self {
            CpuStorage::F32(v) => v.clone(),
            CpuStorage::BF16(v) => v.iter().map(|x| x.to_f32()).collect(),
            CpuStorage::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            other => (0..other.len()).map(|i| other.get_f64(i) as f32).collect(),
        }
    }

    /// Narrows an f32 result back to `dtype` (f32, bf16 or f16).
    pub fn from_f32_vec(dtype: DType, v: Vec<f32>) -> Self {
        match dtype {
            DType::BF16 => CpuStorage::BF16(v.into_iter().map(bf16::from_f32).collect()),
            DType::F16 => CpuStorage::F16(v.into_iter().map(f16::from_f32).collect()),
            DType::F32 => CpuStorage::F32(v),
            other => CpuStorage::from_f64(other, v.into_iter().map(|x| x as f64)),
        }
    }
}

impl Storage {
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            Storage::Cuda(c) => Device::Cuda(c.gpu.ordinal),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => s.dtype(),
            Storage::Cuda(c) => crate::cuda::dtype_of(c.buf.elem),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => s.len(),
            Storage::Cuda(c) => c.buf.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn size_in_bytes(&self) -> usize {
        self.len() * self.dtype().size_in_bytes()
    }
}
