/// Errors from building or differentiating a graph.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tensor(#[from] tensor::Error),

    #[error("backward: {why}")]
    Backward { why: String },

    #[error("gradient check of `{op}` failed: input {input}, element {index}: analytic {analytic:.6e}, numeric {numeric:.6e}")]
    GradCheck { op: String, input: usize, index: usize, analytic: f64, numeric: f64 },
}

pub type Result<T> = std::result::Result<T, Error>;
