//! Saving and loading tensors in the safetensors format.
//!
//! A model's file holds one tensor per parameter under its stable dotted name (see
//! [`crate::Transformer::params`]): `tokens.table`, `pos.row.table`, `pos.column.table`
//! (`pos.channel.table` for images), then for each block `i`:
//! `blocks.{i}.ln1.{gamma,beta}`, `blocks.{i}.attn.qkv.{weight,bias}` (`[d, 2 d_qk + d]`:
//! queries, keys, values side by side), `blocks.{i}.attn.proj.{weight,bias}`,
//! `blocks.{i}.ln2.{gamma,beta}`, `blocks.{i}.ff.fc1.{weight,bias}`, `blocks.{i}.ff.fc2.{weight,bias}`;
//! then `ln_f.{gamma,beta}` and `head.{weight,bias}`. Linear weights are `[d_in, d_out]`
//! (`y = x W + b`).
//!
//! Files are written atomically: a temporary file in the same folder, fsync, rename; a crash
//! mid-write leaves the previous file intact.

use crate::{Error, Result, Transformer};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use tensor::{CpuStorage, DType, Tensor};

fn file_err(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::File { path: path.to_path_buf(), why: why.to_string() }
}

fn to_st(d: DType) -> Dtype {
    match d {
        DType::F64 => Dtype::F64,
        DType::F32 => Dtype::F32,
        DType::BF16 => Dtype::BF16,
        DType::F16 => Dtype::F16,
        DType::I32 => Dtype::I32,
        DType::U8 => Dtype::U8,
    }
}

fn from_st(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::F64 => DType::F64,
        Dtype::F32 => DType::F32,
        Dtype::BF16 => DType::BF16,
        Dtype::F16 => DType::F16,
        Dtype::I32 => DType::I32,
        Dtype::U8 => DType::U8,
        _ => return None,
    })
}

/// Writes `tensors` (any device, any dtype) and `metadata` to `path`, atomically.
pub fn save_tensors(path: &Path, tensors: &[(String, Tensor)], metadata: HashMap<String, String>) -> Result<()> {
    let host: Vec<(String, DType, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            Ok((name.clone(), t.dtype(), t.shape().to_vec(), t.to_bytes()?))
        })
        .collect::<Result<_>>()?;
    let views = host
        .iter()
        .map(|(name, dtype, shape, bytes)| Ok((name.clone(), TensorView::new(to_st(*dtype), shape.clone(), bytes).map_err(|e| file_err(path, format!("tensor {name}: {e}")))?)))
        .collect::<Result<Vec<_>>>()?;
    let data = safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| file_err(path, e))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("tensors"), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        file_err(path, e)
    })
}

/// Reads every tensor of a safetensors file onto the CPU, with the file's metadata.
pub fn load_tensors(path: &Path) -> Result<(Vec<(String, Tensor)>, HashMap<String, String>)> {
    let data = std::fs::read(path).map_err(|e| file_err(path, e))?;
    let st = SafeTensors::deserialize(&data).map_err(|e| file_err(path, format!("not a valid safetensors file: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&data).map_err(|e| file_err(path, e))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let dtype = from_st(view.dtype()).ok_or_else(|| file_err(path, format!("tensor {name}: unsupported dtype {:?}", view.dtype())))?;
        let t = Tensor::from_cpu_storage(CpuStorage::from_bytes(dtype, view.data()), view.shape())?;
        out.push((name, t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

impl Transformer {
    /// Saves every parameter under its name, with the configuration as metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors: Vec<(String, Tensor)> = self.params().into_iter().map(|p| (p.name, p.var.value().clone())).collect();
        let meta = HashMap::from([("config".to_string(), format!("{:?}", self.config)), ("format".to_string(), "sparse-transformer/1".to_string())]);
        save_tensors(path, &tensors, meta)
    }

    /// Loads every parameter from `path` (saved by [`Transformer::save`] or any tool using
    /// the same names), into the existing buffers. The file must hold exactly this model's
    /// parameters with the same shapes; the values are cast to the model's dtype.
    pub fn load(&self, path: &Path) -> Result<()> {
        let (tensors, _) = load_tensors(path)?;
        let mut by_name: HashMap<String, Tensor> = tensors.into_iter().collect();
        for p in self.params() {
            let t = by_name.remove(&p.name).ok_or_else(|| file_err(path, format!("missing tensor {}", p.name)))?;
            if t.shape() != p.var.value().shape() {
                return Err(file_err(path, format!("tensor {} has shape {:?}, the model needs {:?}", p.name, t.shape(), p.var.value().shape())));
            }
            p.var.value().assign(&t.to_dtype(p.var.value().dtype())?)?;
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(file_err(path, format!("unexpected tensor {extra} (not a parameter of this model)")));
        }
        Ok(())
    }
}
