/// What can go wrong inside a kernel. The `tensor` layer validates shapes before it calls
/// down, so on the CPU these are rare; they name the kernel and what it was given.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kernel}: index {index} out of range for a table of {len} rows")]
    IndexOutOfRange { kernel: &'static str, index: usize, len: usize },

    #[error("CUDA is not available: {why}")]
    CudaUnavailable { why: String },

    #[error("CUDA {what} failed: {why}")]
    Cuda { what: String, why: String },

    #[error("NVRTC could not compile {file} ({options}):\n{log}")]
    Compile { file: String, options: String, log: String },

    #[error("{0}")]
    Launch(String),
}

pub type Result<T> = std::result::Result<T, Error>;

