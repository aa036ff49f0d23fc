//! The factorized attention patterns of the paper, as data.
//!
//! Query `i` attends to key `j` (always `j <= i`) when `j` is in its connectivity set.
//! Every pattern is a union of at most two parts, `A1` (local) and `A2` (the complement that
//! carries information across the sequence):
//!
//! - **dense**: every `j <= i`.
//! - **strided**, stride `l`: `A1(i) = { j : i - l < j <= i }` (the previous `l` positions, the
//!   "row"); `A2(i) = { j : (i - j) mod l = 0 }` (every `l`-th position back, the "column").
//! - **fixed**, block `l`, summary width `c`: `A1(i) = { j : floor(j / l) = floor(i / l) }` (the
//!   query's own block); `A2(i) = { j : j mod l in [l - c, l) }` (the last `c` positions of every
//!   block, its "summary"). With several heads, each head gets its own length-`c` sub-block
//!   of summary positions, which the paper found better than sharing one: head `h` uses
//!   sub-block `s = h mod (l / c)`, i.e. `j mod l in [l - c (s + 1), l - c s)`; a single head
//!   (or `s = 0`) is exactly the paper's `A2`.
//!
//! How the two parts are spread over heads and layers is the *integration* (`p = 2`):
//! - **interleave**: residual block `r` uses `A1` if `r` is even, `A2` if odd, in every head;
//! - **merged**: every head attends to `A1 ∪ A2`;
//! - **multi-head**: heads alternate, `A1` in even heads, `A2` in odd ones.

use std::fmt;

/// Which connectivity sets exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factorization {
    Dense,
    Strided { stride: usize },
    Fixed { block: usize, summary: usize },
}

/// Which part of a factorized pattern a head attends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `A1`: the local part.
    Local,
    /// `A2`: the column (strided) or summary (fixed) part.
    Summary,
    /// `A1 ∪ A2`.
    Union,
}

/// How the parts are distributed over heads and layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integration {
    Interleave,
    Merged,
    MultiHead,
}

/// A layer's whole pattern: the factorization plus the part each head uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerPattern {
    pub factorization: Factorization,
    pub heads: Vec<Part>,
}

impl fmt::Display for Factorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Factorization::Dense => write!(f, "dense"),
            Factorization::Strided { stride } => write!(f, "strided l={stride}"),
            Factorization::Fixed { block, summary } => write!(f, "fixed l={block} c={summary}"),
        }
    }
}

impl Factorization {
    /// Whether query `i` sees key `j` through `part`, in head `head`.
    pub fn allows(&self, part: Part, head: usize, i: usize, j: usize) -> bool {
        if j > i {
            return false;
        }
        let (a1, a2) = match *self {
            Factorization::Dense => return true,
            Factorization::Strided { stride: l } => (i - j < l, (i - j) % l == 0),
            Factorization::Fixed { block: l, summary: c } => {
                let s = head % (l / c).max(1);
                let r = j % l;
                (j / l == i / l, r + c * (s + 1) >= l && r + c * s < l)
            }
        };
        match part {
            Part::Local => a1,
            Part::Summary => a2,
            Part::Union => a1 || a2,
        }
    }

    /// How many keys query `i` of head `head` sees through `part`: `|{j : allows(part, head,
    /// i, j)}|` in closed form (O(1), so counting a 10^6-long sequence is instant).
    pub fn keys_of(&self, part: Part, head: usize, i: usize) -> usize {
        let (local, summary, both) = match *self {
            Factorization::Dense => return i + 1,
            // The two sets share only j = i.
            Factorization::Strided { stride: l } => ((i + 1).min(l), i / l + 1, 1),
            Factorization::Fixed { block: l, summary: c } => {
                // Summary columns r in [lo, hi) of every block; the own block up to i % l.
                let s = head % (l / c).max(1);
                let (lo, hi) = (l.saturating_sub(c * (s + 1)), l - (c * s).min(l));
                let own = (i % l + 1).min(hi).saturating_sub(lo);
                (i % l + 1, (i / l) * (hi - lo) + own, own)
            }
        };
        match part {
            Part::Local => local,
            Part::Summary => summary,
            Part::Union => local + summary - both,
        }
    }

    /// The part every head of residual block `layer` uses under `integration`.
    pub fn layer(&self, integration: Integration, layer: usize, heads: usize) -> LayerPattern {
        let part = |h: usize| match integration {
            Integration::Merged => Part::Union,
            Integration::Interleave => {
                if layer % 2 == 0 {
                    Part::Local
                } else {
                    Part::Summary
                }
            }
            Integration::MultiHead => {
                if h % 2 == 0 {
                    Part::Local
                } else {
                    Part::Summary
                }
            }
        };
        LayerPattern { factorization: *self, heads: (0..heads).map(part).collect() }
    }
}

impl LayerPattern {
    /// The mask `[heads, n, n]` (1 where query `i` of head `h` sees key `j`), row-major; or
    /// `[n, n]` when every head has the same pattern. Returns `(mask, heads_in_mask)`.
    pub fn mask(&self, n: usize) -> (Vec<u8>, usize) {
        let distinct = self.heads.iter().enumerate().any(|(h, &p)| self.head_differs(h, p));
        let heads = if distinct { self.heads.len() } else { 1 };
        let mut m = vec![0u8; heads * n * n];
        for h in 0..heads {
            for i in 0..n {
                for j in 0..=i {
                    m[(h * n + i) * n + j] = u8::from(self.factorization.allows(self.heads[h], h, i, j));
                }
            }
        }
        (m, heads)
    }

    /// Whether head `h` (using `p`) sees a different set than head 0.
    fn head_differs(&self, h: usize, p: Part) -> bool {
        if p != self.heads[0] {
            return true;
        }
        match self.factorization {
            Factorization::Fixed { block, summary } => p != Part::Local && h % (block / summary).max(1) != 0,
            _ => false,
        }
    }

    /// Keys per query summed over all queries of a length-`n` sequence, per head: the work a
    /// kernel that skips everything outside the pattern does.
    pub fn connections(&self, n: usize) -> Vec<usize> {
        (0..self.heads.len()).map(|h| (0..n).map(|i| self.factorization.keys_of(self.heads[h], h, i)).sum()).collect()
    }
}

impl LayerPattern {
    /// The pattern as the fused kernels run it: a list of parts (see
    /// `kernels::sparse_attention`), each covering some heads, whose union is exactly the mask
    /// of [`LayerPattern::mask`] with every connection in one part only. Heads with the same
    /// part share a launch when they are evenly spaced (all heads, or every other head).
    pub fn kernel_parts(&self, n: usize) -> Vec<tensor::SaPart> {
        use tensor::SaPart;
        let heads = self.heads.len();
        let pieces = |part: Part, h: usize| -> Vec<SaPart> {
            match (self.factorization, part) {
                (Factorization::Dense, _) => vec![SaPart::causal(n, h)],
                (Factorization::Strided { stride: l }, Part::Local) => vec![SaPart::local(n, l, h)],
                (Factorization::Strided { stride: l }, Part::Summary) => vec![SaPart::column(n, l, true, h)],
                (Factorization::Strided { stride: l }, Part::Union) => vec![SaPart::local(n, l, h), SaPart::column(n, l, false, h)],
                (Factorization::Fixed { block: l, .. }, Part::Local) => vec![SaPart::own_block(n, l, h)],
                (Factorization::Fixed { block: l, summary: c }, Part::Summary) => vec![SaPart::summary(n, l, c, false, h)],
                (Factorization::Fixed { block: l, summary: c }, Part::Union) => vec![SaPart::own_block(n, l, h), SaPart::summary(n, l, c, true, h)],
            }
        };
        let mut out = Vec::new();
        for part in [Part::Local, Part::Summary, Part::Union] {
            let hs: Vec<usize> = (0..heads).filter(|&h| self.heads[h] == part).collect();
            if hs.is_empty() {
                continue;
            }
            let step = if hs.len() > 1 { hs[1] - hs[0] } else { 1 };
            let even = hs.windows(2).all(|w| w[1] - w[0] == step);
            let groups: Vec<(usize, usize, usize)> = if even { vec![(hs[0], step, hs.len())] } else { hs.iter().map(|&h| (h, 1, 1)).collect() };
            for (start, step, count) in groups {
                out.extend(pieces(part, heads).into_iter().map(|p| p.for_heads(start, step, count)));
            }
        }
        out
    }
}

/// Renders the connectivity of each head of `pattern` for a length-`n` sequence as an RGB
/// PNG, like the paper's Figure 3: one `n x n` panel per distinct head, row `i` = query,
/// column `j` = key; the query's own position dark, attended keys blue, the rest white.
/// `scale` pixels per cell.
pub fn render_png(pattern: &LayerPattern, n: usize, scale: usize, path: &std::path::Path) -> std::io::Result<()> {
    let (mask, heads) = pattern.mask(n);
    let gap = 2 * scale;
    let (w, h) = (heads * n * scale + (heads - 1) * gap, n * scale);
    let mut pixels = vec![255u8; w * h * 3];
    for head in 0..heads {
        let x0 = head * (n * scale + gap);
        for i in 0..n {
            for j in 0..n {
                let color = if i == j {
                    [20, 40, 120]
                } else if mask[(head * n + i) * n + j] != 0 {
                    [90, 150, 230]
                } else {
                    [245, 245, 245]
                };
                for dy in 0..scale {
                    for dx in 0..scale {
                        let edge = scale > 2 && (dx == scale - 1 || dy == scale - 1);
                        let px = ((i * scale + dy) * w + x0 + j * scale + dx) * 3;
                        let c = if edge { [255, 255, 255] } else { color };
                        pixels[px..px + 3].copy_from_slice(&c);
                    }
                }
            }
        }
    }
    let file = std::fs::File::create(path)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(std::io::Error::other)?;
    writer.write_image_data(&pixels).map_err(std::io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's sets, read literally: enumerate and filter.
    fn brute_force(f: Factorization, part: Part, head: usize, heads: usize, i: usize) -> Vec<usize> {
        let a1: Vec<usize> = match f {
            Factorization::Dense => (0..=i).collect(),
            Factorization::Strided { stride: l } => (0..=i).filter(|&j| j + l > i).collect(),
            Factorization::Fixed { block: l, .. } => (0..=i).filter(|&j| j / l == i / l).collect(),
        };
        let a2: Vec<usize> = match f {
            Factorization::Dense => (0..=i).collect(),
            Factorization::Strided { stride: l } => (0..=i).filter(|&j| (i - j) % l == 0).collect(),
            Factorization::Fixed { block: l, summary: c } => {
                // head s of the distinct sub-blocks; with one head the paper's { j mod l >= l - c }
                let s = if heads == 1 { 0 } else { head % (l / c) };
                let lo = l - c * (s + 1);
                (0..=i).filter(|&j| (lo..lo + c).contains(&(j % l))).collect()
            }
        };
        let mut out: Vec<usize> = match part {
            Part::Local => a1,
            Part::Summary => a2,
            Part::Union => a1.into_iter().chain(a2).collect(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn patterns_match_the_paper_set_definitions() {
        let facts = [Factorization::Dense, Factorization::Strided { stride: 4 }, Factorization::Strided { stride: 5 }, Factorization::Fixed { block: 8, summary: 2 }, Factorization::Fixed { block: 6, summary: 3 }];
        for f in facts {
            for part in [Part::Local, Part::Summary, Part::Union] {
                for heads in [1, 4] {
                    for head in 0..heads {
                        for i in 0..40 {
                            let got: Vec<usize> = (0..=i).filter(|&j| f.allows(part, head, i, j)).collect();
                            assert_eq!(got, brute_force(f, part, head, heads, i), "{f} {part:?} head {head}/{heads} query {i}");
                            assert_eq!(f.keys_of(part, head, i), got.len(), "keys_of: {f} {part:?} head {head} query {i}");
                        }
                    }
                }
            }
        }
    }

    /// The largest, over all pairs `j <= i`, of the fewest attention steps from `i` to `j`,
    /// where one step follows any edge `q -> j` that `edge(q, j)` allows.
    fn max_hops(n: usize, edge: impl Fn(usize, usize) -> bool) -> usize {
        let mut worst = 0;
        for i in 0..n {
            // breadth-first search backwards from i over edges i -> j in A1 ∪ A2
            let mut dist = vec![usize::MAX; n];
            dist[i] = 0;
            let mut frontier = vec![i];
            while let Some(next) = (!frontier.is_empty()).then(|| {
                let mut nf = Vec::new();
                for &q in &frontier {
                    for j in 0..=q {
                        if dist[j] == usize::MAX && edge(q, j) {
                            dist[j] = dist[q] + 1;
                            nf.push(j);
                        }
                    }
                }
                nf
            }) {
                frontier = next;
            }
            worst = worst.max(dist[..=i].iter().copied().max().unwrap());
        }
        worst
    }

    /// The paper: with p = 2 parts, every position reaches every earlier one in at most
    /// p + 1 = 3 steps. For one head with the paper's A1 ∪ A2, and, with distinct summary
    /// sub-blocks (fixed), for the heads of a layer together (a single shifted head cannot
    /// reach the positions after its sub-block in earlier blocks; the other heads cover them).
    #[test]
    fn every_position_reaches_every_earlier_one_within_three_hops() {
        for f in [Factorization::Strided { stride: 8 }, Factorization::Strided { stride: 7 }, Factorization::Fixed { block: 8, summary: 2 }, Factorization::Fixed { block: 8, summary: 4 }] {
            let hops = max_hops(64, |q, j| f.allows(Part::Union, 0, q, j));
            assert!(hops <= 3, "{f}, one head: {hops} hops");
            let heads = 4;
            let hops = max_hops(64, |q, j| (0..heads).any(|h| f.allows(Part::Union, h, q, j)));
            assert!(hops <= 3, "{f}, {heads} heads together: {hops} hops");
        }
    }

    #[test]
    fn parts_said_to_cover_every_key_or_query_do() {
        let facts = [Factorization::Dense, Factorization::Strided { stride: 5 }, Factorization::Fixed { block: 8, summary: 2 }];
        for f in facts {
            for integration in [Integration::Merged, Integration::Interleave, Integration::MultiHead] {
                for (heads, layer, n) in [(1, 0, 37), (4, 1, 100), (4, 0, 64)] {
                    for p in f.layer(integration, layer, heads).kernel_parts(n) {
                        let all = |mut rows: Vec<usize>| {
                            rows.sort_unstable();
                            rows == (0..n).collect::<Vec<_>>()
                        };
                        assert_eq!(p.covers_every_key(heads), (0..heads).all(|h| all(p.key_rows(h))), "{f:?} {integration:?} {p:?}");
                        assert_eq!(p.covers_every_query(heads), (0..heads).all(|h| all(p.query_rows(h))), "{f:?} {integration:?} {p:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn kernel_parts_cover_each_mask_exactly_once() {
        let facts = [Factorization::Dense, Factorization::Strided { stride: 5 }, Factorization::Strided { stride: 8 }, Factorization::Fixed { block: 8, summary: 2 }, Factorization::Fixed { block: 6, summary: 3 }];
        for f in facts {
            for integration in [Integration::Merged, Integration::Interleave, Integration::MultiHead] {
                for heads in [1, 4] {
                    for layer in [0, 1] {
                        let pattern = f.layer(integration, layer, heads);
                        for n in [1, 37, 64, 100] {
                            let parts = pattern.kernel_parts(n);
                            let (mask, mask_heads) = pattern.mask(n);
                            for h in 0..heads {
                                let mut seen = vec![0u8; n * n];
                                for p in &parts {
                                    for (i, j) in p.pairs(h) {
                                        seen[i * n + j] += 1;
                                    }
                                }
                                let want = &mask[(h % mask_heads) * n * n..][..n * n];
                                assert_eq!(seen, want, "{f} {integration:?} layer {layer} head {h}/{heads} n {n}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn integration_modes_assign_parts() {
        let f = Factorization::Strided { stride: 4 };
        assert_eq!(f.layer(Integration::Merged, 3, 2).heads, vec![Part::Union; 2]);
        assert_eq!(f.layer(Integration::Interleave, 0, 2).heads, vec![Part::Local; 2]);
        assert_eq!(f.layer(Integration::Interleave, 1, 2).heads, vec![Part::Summary; 2]);
        assert_eq!(f.layer(Integration::MultiHead, 5, 4).heads, vec![Part::Local, Part::Summary, Part::Local, Part::Summary]);
        // Fixed, merged, 4 heads with l/c = 4 distinct summaries: the mask is per head.
        let (_, heads) = Factorization::Fixed { block: 8, summary: 2 }.layer(Integration::Merged, 0, 4).mask(16);
        assert_eq!(heads, 4);
        let (_, heads) = Factorization::Strided { stride: 4 }.layer(Integration::Merged, 0, 4).mask(16);
        assert_eq!(heads, 1);
    }
}
