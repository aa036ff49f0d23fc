/// Errors from building or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Autograd(#[from] autograd::Error),

    #[error(transparent)]
    Tensor(#[from] tensor::Error),

    #[error("model config: {key}: {why}")]
    Config { key: &'static str, why: String },

    #[error("{}: {why}", path.display())]
    File { path: std::path::PathBuf, why: String },
}

pub type Result<T> = std::result::Result<T, Error>;
