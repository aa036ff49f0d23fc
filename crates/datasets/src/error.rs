use std::path::{Path, PathBuf};

/// A problem with a data file: which file, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {why}", path.display())]
    File { path: PathBuf, why: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// An error about `path`.
pub(crate) fn bad(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::File { path: path.to_path_buf(), why: why.to_string() }
}
