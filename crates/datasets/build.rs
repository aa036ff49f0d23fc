//! Gathers the embedded default corpus: the project's own source code and documentation
//! (text the project owns), concatenated in a fixed order, into `$OUT_DIR/corpus.txt`.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect(&p, out);
            }
        } else if name.ends_with(".rs") || name.ends_with(".md") || name.ends_with(".cu") || name.ends_with(".toml") {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().and_then(Path::parent).unwrap().to_path_buf();
    let mut files = Vec::new();
    collect(&root.join("crates"), &mut files);
    for top in ["README.md", "Cargo.toml"] {
        if root.join(top).exists() {
            files.push(root.join(top));
        }
    }
    files.sort();
    let mut corpus = Vec::new();
    for f in &files {
        if let Ok(bytes) = std::fs::read(f) {
            corpus.extend_from_slice(&bytes);
            corpus.push(b'\n');
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("corpus.txt");
    std::fs::write(out, corpus).unwrap();
    println!("cargo:rerun-if-changed={}", root.join("crates").display());
    println!("cargo:rerun-if-changed={}", root.join("README.md").display());
}
