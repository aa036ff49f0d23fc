//! The embedded default corpus: this project's own source code and documentation, gathered
//! at build time (see `build.rs`). No download, no third-party text.

/// The whole corpus.
pub fn corpus() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/corpus.txt"))
}

/// The corpus split `90 / 5 / 5` like enwik8: `(train, valid, test)`.
pub fn splits() -> (&'static [u8], &'static [u8], &'static [u8]) {
    let c = corpus();
    let (a, b) = (c.len() * 90 / 100, c.len() * 95 / 100);
    (&c[..a], &c[a..b], &c[b..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn corpus_is_substantial_text() {
        let c = super::corpus();
        assert!(c.len() > 100_000, "corpus has {} bytes", c.len());
        assert!(std::str::from_utf8(c).is_ok());
        let (tr, va, te) = super::splits();
        assert_eq!(tr.len() + va.len() + te.len(), c.len());
    }
}
