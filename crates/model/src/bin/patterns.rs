//! `patterns [OUT_DIR]`: renders the attention patterns as PNGs (like the paper's Figure 3):
//! dense, strided and fixed, each part and their union, for n = 48.

use model::pattern::{Factorization, Integration, LayerPattern, Part};

fn main() -> std::io::Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "docs/patterns".into()));
    std::fs::create_dir_all(&out)?;
    let n = 48;
    let strided = Factorization::Strided { stride: 8 };
    let fixed = Factorization::Fixed { block: 8, summary: 2 };
    let one = |f: Factorization, part: Part| LayerPattern { factorization: f, heads: vec![part] };
    let renders = [
        ("dense", one(Factorization::Dense, Part::Union)),
        ("strided_a1_local", one(strided, Part::Local)),
        ("strided_a2_column", one(strided, Part::Summary)),
        ("strided_merged", one(strided, Part::Union)),
        ("fixed_a1_block", one(fixed, Part::Local)),
        ("fixed_a2_summary", one(fixed, Part::Summary)),
        ("fixed_merged", one(fixed, Part::Union)),
        ("fixed_merged_4_heads", fixed.layer(Integration::Merged, 0, 4)),
    ];
    for (name, pattern) in renders {
        let path = out.join(format!("{name}.png"));
        model::pattern::render_png(&pattern, n, 4, &path)?;
        println!("{}", path.display());
    }
    Ok(())
}
