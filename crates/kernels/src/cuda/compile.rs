//! Run-time compilation of kernel sources with NVRTC, cached in-process (by [`super::Gpu`])
//! and on disk.
//!
//! The disk cache holds PTX keyed by a hash of the full source text, the options and the
//! architecture, in `$ST_KERNEL_CACHE` or `~/.cache/sparse-transformer/ptx`; a second run
//! loads PTX instead of recompiling. Files are written atomically (temporary file + rename).
//!
//! NVRTC has no built-in `cuda_bf16.h`: the CUDA include directory is taken from
//! `$ST_CUDA_INCLUDE`, `$CUDA_HOME/include`, `$CUDA_PATH/include` or `/usr/local/cuda/include`,
//! the first that holds `cuda_bf16.h`.

use super::sources;
use crate::error::{Error, Result};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileError, CompileOptions, Ptx};
use std::path::PathBuf;

/// Directories to search for the CUDA headers.
pub fn include_dirs() -> Vec<String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(v) = std::env::var("ST_CUDA_INCLUDE") {
        candidates.extend(std::env::split_paths(&v));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Ok(v) = std::env::var(var) {
            candidates.push(PathBuf::from(v).join("include"));
        }
    }
    candidates.push(PathBuf::from("/usr/local/cuda/include"));
    candidates.into_iter().filter(|d| d.join("cuda_bf16.h").exists()).map(|d| d.display().to_string()).take(1).collect()
}

fn cache_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("ST_KERNEL_CACHE") {
        return Some(PathBuf::from(d));
    }
    std::env::var("HOME").ok().map(|h| PathBuf::from(h).join(".cache/sparse-transformer/ptx"))
}

/// FNV-1a, 64 bits: a stable cache key (not for security).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    h
}

/// Compiles the embedded source `file` with `defines` for `arch` (e.g. `sm_90`).
pub fn compile(file: &str, defines: &[(&str, &str)], arch: &'static str) -> Result<Ptx> {
    let text = sources::get(file).ok_or_else(|| Error::Compile { file: file.into(), options: String::new(), log: "no such kernel source".into() })?;
    compile_text(file, text, defines, arch, true)
}

/// The architecture `file` is compiled for on a GPU of `arch`: files using Hopper's
/// arch-specific instructions (wgmma) need `sm_90a` rather than `sm_90` (their kernels are
/// compiled only under `__CUDA_ARCH_FEAT_SM90_ALL`; elsewhere the file holds the older ones).
pub fn arch_for(file: &str, arch: &'static str) -> &'static str {
    match (file, arch) {
        ("sparse_attention_wgmma.cu", "sm_90") => "sm_90a",
        _ => arch,
    }
}

/// Compiles `text` (with the common header prepended). `use_cache` reads and writes the disk
/// cache.
pub fn compile_text(file: &str, text: &str, defines: &[(&str, &str)], arch: &'static str, use_cache: bool) -> Result<Ptx> {
    let arch = arch_for(file, arch);
    let source = format!("#line 1 \"common.cuh\"\n{}\n#line 1 \"{file}\"\n{text}", sources::COMMON);
    let mut options = vec!["-std=c++17".to_string()];
    options.extend(defines.iter().map(|(k, v)| format!("-D{k}={v}")));
    let includes = include_dirs();
    let key = format!("{:016x}", fnv1a(&[&source, &options.join(" "), arch, &includes.join(":")]));
    let cached = cache_dir().map(|d| d.join(format!("{}-{key}.ptx", file.trim_end_matches(".cu"))));
    if use_cache {
        if let Some(text) = cached.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
            return Ok(Ptx::from_src(text));
        }
    }
    let opts = CompileOptions { arch: Some(arch), include_paths: includes, options: options.clone(), name: Some(file.to_string()), ..Default::default() };
    let ptx = compile_ptx_with_opts(&source, opts).map_err(|e| Error::Compile {
        file: file.to_string(),
        options: options.join(" "),
        log: match e {
            CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
            other => other.to_string(),
        },
    })?;
    if let (true, Some(path)) = (use_cache, cached) {
        write_atomically(&path, ptx.to_src().as_bytes());
    }
    Ok(ptx)
}

/// Best effort: a cache that cannot be written only costs a recompilation next time.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Every `(file, defines)` combination the engine uses: what CI compiles to check the sources.
pub fn all_variants() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let floats = ["float", "__nv_bfloat16", "__half"];
    let all = ["float", "__nv_bfloat16", "__half", "int", "unsigned char", "double"];
    let mut v = Vec::new();
    for e in all {
        v.push(("elementwise.cu", vec![("ELEM_TYPE", e)]));
    }
    for s in all {
        for d in all {
            v.push(("cast.cu", vec![("SRC_TYPE", s), ("ELEM_TYPE", d)]));
        }
    }
    for e in floats {
        for f in ["reduce.cu", "adam.cu"] {
            v.push((f, vec![("ELEM_TYPE", e)]));
        }
        for f in ["softmax.cu", "layer_norm.cu"] {
            for packs in ["1", "2", "4", "8"] {
                v.push((f, vec![("ELEM_TYPE", e), ("ROW_PACKS", packs)]));
            }
        }
        for i in ["int", "unsigned char"] {
            v.push(("embedding.cu", vec![("ELEM_TYPE", e), ("IDX_TYPE", i)]));
            v.push(("cross_entropy.cu", vec![("ELEM_TYPE", e), ("IDX_TYPE", i)]));
        }
    }
    for e in ["__nv_bfloat16", "__half"] {
        for dqk in ["32", "64", "128"] {
            for dv in ["32", "64", "128"] {
                for &version in super::sparse_attention::VERSIONS {
                    let file = super::sparse_attention::source_file(version.parse().unwrap_or(1));
                    v.push((file, vec![("ELEM_TYPE", e), ("DQK", dqk), ("DV", dv), ("SA_VERSION", version)]));
                }
            }
        }
    }
    v
}
