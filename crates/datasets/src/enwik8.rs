//! enwik8: the first 100,000,000 bytes of an English Wikipedia XML dump.
//!
//! Input: the raw file, memory-mapped, or `enwik8.zip` (decompressed into memory). A complete
//! file (exactly 10^8 bytes) is checked against its published MD5; a file of another length is
//! accepted as a stand-in (the text prepared by `prepare`, or a test file) and split the same
//! way. Splits: the first 90% for training, the next 5% for validation, the last 5% for test
//! (90M / 5M / 5M for the real file).

use crate::error::{bad, Result};
use crate::sequences::{ByteStream, Bytes, Split};
use md5::{Digest, Md5};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

pub const LEN: usize = 100_000_000;
/// MD5 of the official enwik8.
pub const MD5: &str = "a1fa5ffddb56f4953e226637dabbb36a";

/// The three splits of a byte corpus laid out like enwik8.
pub struct Text {
    pub train: ByteStream,
    pub valid: ByteStream,
    pub test: ByteStream,
}

impl Text {
    pub fn split(&self, s: Split) -> &ByteStream {
        match s {
            Split::Train => &self.train,
            Split::Valid => &self.valid,
            Split::Test => &self.test,
        }
    }
}

/// Splits `bytes` 90 / 5 / 5.
pub fn split(bytes: Bytes) -> Text {
    let n = bytes.len();
    let (a, b) = (n * 90 / 100, n * 95 / 100);
    Text { train: ByteStream::new(bytes.clone(), 0, a), valid: ByteStream::new(bytes.clone(), a, b - a), test: ByteStream::new(bytes, b, n - b) }
}

/// Loads enwik8 (or a stand-in of the same form) from the raw file or `enwik8.zip`.
pub fn load(path: &Path) -> Result<Text> {
    let is_zip = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let bytes = if is_zip {
        let file = std::fs::File::open(path).map_err(|e| bad(path, e))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(path, format!("not a valid zip archive: {e}")))?;
        let mut entry = zip.by_name("enwik8").map_err(|e| bad(path, format!("archive has no enwik8 entry: {e}")))?;
        let mut v = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut v).map_err(|e| bad(path, format!("corrupt zip entry enwik8: {e}")))?;
        Bytes::Owned(Arc::new(v))
    } else {
        let file = std::fs::File::open(path).map_err(|e| bad(path, e))?;
        // SAFETY: the file is opened read-only and not modified while mapped (documented).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| bad(path, format!("cannot memory-map: {e}")))?;
        Bytes::Mapped(Arc::new(map))
    };
    if bytes.is_empty() {
        return Err(bad(path, "empty file"));
    }
    if bytes.len() == LEN {
        let digest = Md5::digest(&bytes[..]);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        if hex != MD5 {
            return Err(bad(path, format!("100,000,000 bytes but MD5 {hex}, expected {MD5}: a corrupted download")));
        }
    }
    Ok(split(bytes))
}
