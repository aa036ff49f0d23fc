//! The CUDA C sources, embedded in the binary. Each file's header comment names the CPU
//! module that is its reference.

/// Prepended to every source (NVRTC sees one translation unit).
pub const COMMON: &str = include_str!("../../cuda/common.cuh");

/// Every kernel source: `(file name, text)`.
pub const FILES: &[(&str, &str)] = &[
    ("adam.cu", include_str!("../../cuda/adam.cu")),
    ("cast.cu", include_str!("../../cuda/cast.cu")),
    ("cross_entropy.cu", include_str!("../../cuda/cross_entropy.cu")),
    ("elementwise.cu", include_str!("../../cuda/elementwise.cu")),
    ("embedding.cu", include_str!("../../cuda/embedding.cu")),
    ("layer_norm.cu", include_str!("../../cuda/layer_norm.cu")),
    ("reduce.cu", include_str!("../../cuda/reduce.cu")),
    ("softmax.cu", include_str!("../../cuda/softmax.cu")),
    // The versions of the fused sparse attention, each after their shared headers.
    ("sparse_attention.cu", concat!(include_str!("../../cuda/sparse_attention_parts.cuh"), include_str!("../../cuda/sparse_attention_common.cuh"), include_str!("../../cuda/sparse_attention_steps.cuh"), include_str!("../../cuda/sparse_attention_rows.cuh"), include_str!("../../cuda/sparse_attention.cu"))),
    ("sparse_attention_v3.cu", concat!(include_str!("../../cuda/sparse_attention_parts.cuh"), include_str!("../../cuda/sparse_attention_common.cuh"), include_str!("../../cuda/sparse_attention_steps.cuh"), include_str!("../../cuda/sparse_attention_rows.cuh"), include_str!("../../cuda/sparse_attention_copy.cuh"), include_str!("../../cuda/sparse_attention_ends.cuh"), include_str!("../../cuda/sparse_attention_v3.cu"))),
    // Version 14 adds Hopper's wgmma dK/dV kernel to the v3 file (compiled for sm_90a:
    // `compile::arch_for`), version 34 its 32-wide counterpart.
    (
        "sparse_attention_wgmma.cu",
        concat!(
            include_str!("../../cuda/sparse_attention_parts.cuh"),
            include_str!("../../cuda/sparse_attention_common.cuh"),
            include_str!("../../cuda/sparse_attention_steps.cuh"),
            include_str!("../../cuda/sparse_attention_rows.cuh"),
            include_str!("../../cuda/sparse_attention_wgmma.cuh"),
            include_str!("../../cuda/sparse_attention_tma.cuh"),
            include_str!("../../cuda/sparse_attention_copy.cuh"),
            include_str!("../../cuda/sparse_attention_ends.cuh"),
            include_str!("../../cuda/sparse_attention_v3.cu"),
            include_str!("../../cuda/sparse_attention_wgmma.cu"),
            include_str!("../../cuda/sparse_attention_wgmma32.cu")
        ),
    ),
];

/// The text of `file`, or `None` if there is no such source.
pub fn get(file: &str) -> Option<&'static str> {
    FILES.iter().find(|(name, _)| *name == file).map(|(_, text)| *text)
}
