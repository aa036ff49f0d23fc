//! The factorized attention patterns as the fused kernels see them: a list of *parts*.
//!
//! Every part is the same kind of problem (see `cuda/sparse_attention_parts.cuh`): split the sequence
//! into sub-sequences by index arithmetic, take queries and keys from them, and let query `p`
//! see keys `m` with `lo(p) <= m <= hi(p)`. That covers each piece of the paper's patterns
//! with dense tiles:
//!
//! | part | sub-sequences | queries / keys | visible keys |
//! |---|---|---|---|
//! | dense causal | 1 | every row | `m <= p` |
//! | strided local (`A1`) | 1 | every row | `p - l < m <= p` |
//! | strided column (`A2`) | `l` columns | rows `c, c+l, c+2l..` | `m <= p` (or `< p`) |
//! | fixed own block (`A1`) | `n / l` blocks | the block's rows | `m <= p` |
//! | fixed summary (`A2`) | 1 | every row / the `c` summary rows of each block | the summary rows `<= p` (or in earlier blocks only) |
//!
//! The column part is row attention on the transposed `[n / l, l]` matrix; the summary part
//! gathers the `c` summary positions of every block into a compact key set (at the head's own
//! sub-block, `l - c (h mod (l / c) + 1)`). A merged pattern (`A1 ∪ A2`) is two parts whose
//! softmaxes are combined by their log-sum-exps; the shared keys (the query itself, the own
//! block's summary rows) belong to one part only.
//!
//! Building the parts of a layer is a handful of integer fields: it costs microseconds and no
//! kernel is compiled per sequence length. [`SaPart::pairs`] lists on the CPU what a part lets
//! a head attend, so tests check that the parts of every pattern cover its mask exactly once.

/// One part (the C struct `Part` of `cuda/sparse_attention_parts.cuh`, field for field).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaPart {
    pub n: i32,
    pub n_seq: i32,
    pub q_len: i32,
    pub q_seq: i32,
    pub q_step: i32,
    pub k_len: i32,
    pub k_seq: i32,
    pub k_group: i32,
    pub k_gstride: i32,
    pub k_step: i32,
    pub off_base: i32,
    pub off_mult: i32,
    pub off_mod: i32,
    pub vis_a: i32,
    pub vis_c: i32,
    pub vis_d: i32,
    pub vis_d_is_off: i32,
    pub excl: i32,
    pub window: i32,
    pub head_start: i32,
    pub head_step: i32,
    pub heads: i32,
    /// Packed columns (kernel version 11, [`SaPart::packed_columns`]): queries come in groups
    /// of `q_group` (`i32::MAX`: one group), group `g` starting at `g * q_gstride`...
    pub q_group: i32,
    pub q_gstride: i32,
    /// ... and query `p` sees no key before `(p / seg) * seg` (`i32::MAX`: no segments).
    pub seg: i32,
    /// Kernel version 18 divides by `vis_a`, `k_group`, `q_group` and `seg` with a multiply by
    /// these reciprocals, `ceil(2^32 / d)` (0: divide), set by [`SaPart::with_reciprocals`]
    /// just before a launch; zero in every part the constructors build.
    pub recip: [u32; 4],
}

impl SaPart {
    /// One sequence of `n` rows, causal, every head of `heads`.
    pub fn causal(n: usize, heads: usize) -> Self {
        let n = n as i32;
        SaPart {
            n,
            n_seq: 1,
            q_len: n,
            q_seq: 0,
            q_step: 1,
            k_len: n,
            k_seq: 0,
            k_group: 1,
            k_gstride: 1,
            k_step: 0,
            off_base: 0,
            off_mult: 0,
            off_mod: 1,
            vis_a: 1,
            vis_c: 1,
            vis_d: 0,
            vis_d_is_off: 0,
            excl: 0,
            window: 0,
            head_start: 0,
            head_step: 1,
            heads: heads as i32,
            q_group: i32::MAX,
            q_gstride: 0,
            seg: i32::MAX,
            recip: [0; 4],
        }
    }

    /// This part with `recip` filled in for the kernels (version 18): for each divisor `d`
    /// of `vis_a`, `k_group`, `q_group`, `seg`, `r = ceil(2^32 / d)`, with which the kernels
    /// compute `x / d` as the high word of `x * r`. That is exact when `x * d <= 2^32`
    /// (`x r / 2^32 = x / d + x e / (d 2^32)` with `e = r d - 2^32 < d`, and the fraction of
    /// `x / d` is at most `(d - 1) / d`); the kernels divide only indices below
    /// `max(n, q_len, k_len) + 128` (a tile past the end), so `r` is 0 (a real division)
    /// unless that bound times `d` fits, and for `d = 1`, which the kernels skip.
    pub fn with_reciprocals(self) -> SaPart {
        let bound = self.n.max(self.q_len).max(self.k_len) as u64 + 128;
        let recip = |d: i32| -> u32 {
            let d = d as u64;
            if d < 2 || bound * d > 1 << 32 {
                0
            } else {
                (1u64 << 32).div_ceil(d) as u32
            }
        };
        SaPart { recip: [recip(self.vis_a), recip(self.k_group), recip(self.q_group), recip(self.seg)], ..self }
    }

    /// Strided `A1`: the previous `l` positions, the query's own included.
    pub fn local(n: usize, l: usize, heads: usize) -> Self {
        SaPart { window: l as i32, ..Self::causal(n, heads) }
    }

    /// Strided `A2`: positions `i, i - l, i - 2l, ...`, as causal attention within each of
    /// the `l` columns of the `[n / l, l]` matrix; `with_self: false` leaves out `i` itself
    /// (it belongs to the local part of a merged pattern).
    pub fn column(n: usize, l: usize, with_self: bool, heads: usize) -> Self {
        let rows = n.div_ceil(l) as i32;
        SaPart { n_seq: l as i32, q_len: rows, q_seq: 1, q_step: l as i32, k_len: rows, k_seq: 1, k_gstride: l as i32, excl: i32::from(!with_self), ..Self::causal(n, heads) }
    }

    /// Fixed `A1`: causal attention within each block of `l`.
    pub fn own_block(n: usize, l: usize, heads: usize) -> Self {
        let l = l as i32;
        SaPart { n_seq: (n as i32 + l - 1) / l, q_len: l, q_seq: l, k_len: l, k_seq: l, k_gstride: 1, ..Self::causal(n, heads) }
    }

    /// Fixed `A2`: the `c` summary positions of every block (head `h` uses sub-block
    /// `h mod (l / c)`, counted from the block's end), gathered into a compact key set.
    /// `earlier_only` keeps the summary rows of earlier blocks only (the own block's are in
    /// the own-block part of a merged pattern).
    pub fn summary(n: usize, l: usize, c: usize, earlier_only: bool, heads: usize) -> Self {
        let (li, ci) = (l as i32, c as i32);
        SaPart {
            k_len: n.div_ceil(l) as i32 * ci,
            k_group: ci,
            k_gstride: li,
            k_step: 1,
            off_base: li - ci,
            off_mult: ci,
            off_mod: (l / c).max(1) as i32,
            vis_a: li,
            vis_c: ci,
            vis_d: li,
            vis_d_is_off: i32::from(!earlier_only),
            ..Self::causal(n, heads)
        }
    }

    /// A strided column part (`column`) with several columns packed into one sub-sequence, so
    /// that short columns fill the kernels' 64-row tiles (CIFAR-10: 32 rows per column, 2 to a
    /// tile; ImageNet 64: 96, 2 to three tiles): `g` columns side by side, queries and keys in column-major order
    /// within the sub-sequence, each query seeing only its own column (`seg`). Packs only when
    /// every column is full (`n` a multiple of `l`) and `g` divides `l`; returns the part
    /// unchanged otherwise, when it is not a column part, or when its columns already fill
    /// whole tiles.
    pub fn packed_columns(self, tile: usize) -> SaPart {
        let is_column = self.q_seq == 1 && self.q_step > 1 && self.k_seq == 1 && self.k_group == 1 && self.k_gstride == self.q_step && self.window == 0 && self.q_group == i32::MAX;
        let (n, l) = (self.n as usize, self.q_step as usize);
        if !is_column || n % l != 0 || (n / l) % tile == 0 {
            return self;
        }
        // The fewest columns that fill whole tiles (96-row columns: 2, three tiles), else, for
        // columns shorter than a tile, the fewest that fill one.
        let rows = n / l;
        let fits = |g: &usize| l % g == 0 && g * rows <= 8 * tile;
        let whole = (2..=l).filter(fits).find(|g| (g * rows) % tile == 0);
        let Some(g) = whole.or_else(|| if rows < tile { (2..=l).filter(fits).find(|g| g * rows >= tile) } else { None }) else { return self };
        let (g, r) = (g as i32, rows as i32);
        SaPart { n_seq: self.n_seq / g, q_len: g * r, q_seq: g, q_group: r, q_gstride: 1, k_len: g * r, k_seq: g, k_group: r, k_gstride: 1, k_step: self.q_step, seg: r, ..self }
    }

    /// This part for heads `start, start + step, ...` only (`count` of them).
    pub fn for_heads(self, start: usize, step: usize, count: usize) -> Self {
        SaPart { head_start: start as i32, head_step: step as i32, heads: count as i32, ..self }
    }

    /// The heads this part covers.
    pub fn head_list(&self) -> Vec<usize> {
        (0..self.heads).map(|z| (self.head_start + z * self.head_step) as usize).collect()
    }

    /// Whether this part's key tiles hold every row of every one of `heads` heads, each once:
    /// parts whose keys are not gathered (`k_group == 1`: causal, local, column, own block;
    /// or packed columns) over all heads. Such a part writes every row of dK and dV, so the backward (version 8)
    /// lets it store rather than add, or write the final gradients.
    pub fn covers_every_key(&self, heads: usize) -> bool {
        (self.k_group == 1 || self.seg != i32::MAX) && self.head_start == 0 && self.head_step == 1 && self.heads as usize == heads
    }

    /// Whether this part's query tiles hold every row of every one of `heads` heads, each once
    /// (every kind of part enumerates all the sequence's queries; only a head subset does not).
    /// Such a part may start or finish the forward's in-place merge of parts (version 9).
    pub fn covers_every_query(&self, heads: usize) -> bool {
        self.head_start == 0 && self.head_step == 1 && self.heads as usize == heads
    }

    /// The query rows the part's query tiles hold for head `h` (CPU mirror of `q_row`).
    pub fn query_rows(&self, h: usize) -> Vec<usize> {
        if !self.head_list().contains(&h) {
            return Vec::new();
        }
        let n = self.n as i64;
        let rows = (0..self.n_seq as i64).flat_map(|s| (0..self.q_len as i64).map(move |p| self.q_row(s, p)));
        rows.filter(|r| (0..n).contains(r)).map(|r| r as usize).collect()
    }

    /// Row of query `p` of sub-sequence `s` (the kernels' `q_row`).
    fn q_row(&self, s: i64, p: i64) -> i64 {
        let g = self.q_group as i64;
        s * self.q_seq as i64 + (p / g) * self.q_gstride as i64 + (p % g) * self.q_step as i64
    }

    /// The key rows the part's key tiles hold for head `h` (CPU mirror of `key_row_or_none`).
    pub fn key_rows(&self, h: usize) -> Vec<usize> {
        if !self.head_list().contains(&h) {
            return Vec::new();
        }
        let (n, off) = (self.n as i64, self.off(h));
        let mut rows = Vec::new();
        for s in 0..self.n_seq as i64 {
            for m in 0..self.k_len as i64 {
                let kj = s * self.k_seq as i64 + (m / self.k_group as i64) * self.k_gstride as i64 + (m % self.k_group as i64) * self.k_step as i64 + off;
                if (0..n).contains(&kj) {
                    rows.push(kj as usize);
                }
            }
        }
        rows
    }

    fn off(&self, h: usize) -> i64 {
        (self.off_base - self.off_mult * (h as i32 % self.off_mod)) as i64
    }

    fn hi(&self, p: i64, off: i64) -> i64 {
        let (a, c) = (self.vis_a as i64, self.vis_c as i64);
        let d = if self.vis_d_is_off != 0 { off } else { self.vis_d as i64 };
        let r = (p % a - d + 1).clamp(0, c);
        ((p / a) * c + r - 1 - self.excl as i64).min(self.k_len as i64 - 1)
    }

    fn lo(&self, p: i64) -> i64 {
        let window = if self.window > 0 { (p - self.window as i64 + 1).max(0) } else { 0 };
        window.max((p / self.seg as i64) * self.seg as i64)
    }

    /// Version 23: the index of `row` among this (summary) part's keys for head `h`, or `None`
    /// (CPU mirror of `compact_key` in `cuda/sparse_attention_ends.cuh`, which inverts the key
    /// rows `(m / k_group) k_gstride + m % k_group + off` of a part with `k_step` 1).
    pub fn compact_key(&self, h: usize, row: usize) -> Option<usize> {
        let rel = row as i64 - self.off(h);
        let (g, gs) = (self.k_group as i64, self.k_gstride as i64);
        if rel < 0 {
            return None;
        }
        let (blk, u) = (rel / gs, rel % gs);
        let m = blk * g + u;
        (u < g && m < self.k_len as i64).then_some(m as usize)
    }

    /// Every (query row, key row) pair this part lets head `h` attend, the CPU mirror of the
    /// kernel's index arithmetic.
    pub fn pairs(&self, h: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        if !self.head_list().contains(&h) {
            return out;
        }
        let (n, off) = (self.n as i64, self.off(h));
        for s in 0..self.n_seq as i64 {
            for p in 0..self.q_len as i64 {
                let qi = self.q_row(s, p);
                if qi >= n {
                    continue;
                }
                for m in self.lo(p)..=self.hi(p, off) {
                    let kj = s * self.k_seq as i64 + (m / self.k_group as i64) * self.k_gstride as i64 + (m % self.k_group as i64) * self.k_step as i64 + off;
                    if (0..n).contains(&kj) {
                        out.push((qi as usize, kj as usize));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fragment loads of `sparse_attention_common.cuh`, mirrored on the CPU: version 2's
    /// `ldmatrix` addressing must hand every lane the same elements as version 1's plain loads
    /// (which the GPU tests check against the reference). A register is a pair of (row,
    /// column) positions of a tile.
    #[test]
    fn ldmatrix_addressing_matches_the_plain_fragment_loads() {
        type Reg = [(usize, usize); 2];
        // ldmatrix .x4: lanes 8i..8i+7 give the rows of matrix i; register i of lane l holds
        // row l/4, columns 2(l%4) and 2(l%4)+1 of matrix i (.trans: column l/4, rows 2(l%4)
        // and 2(l%4)+1).
        let ldsm = |addr: &dyn Fn(usize) -> (usize, usize), trans: bool| -> Vec<[Reg; 4]> {
            (0..32)
                .map(|l| {
                    std::array::from_fn(|i| {
                        let row_of = |r: usize| addr(8 * i + r);
                        let (a, b) = (l / 4, 2 * (l % 4));
                        if trans {
                            let (r0, c0) = row_of(b);
                            let (r1, c1) = row_of(b + 1);
                            [(r0, c0 + a), (r1, c1 + a)]
                        } else {
                            let (r, c) = row_of(a);
                            [(r, c + b), (r, c + b + 1)]
                        }
                    })
                })
                .collect()
        };
        let (r0, k0, n0) = (16, 32, 8);
        for l in 0..32 {
            let (g, c) = (l / 4, (l % 4) * 2);
            let pair = |r: usize, col: usize| -> Reg { [(r, col), (r, col + 1)] };
            let col_pair = |r: usize, col: usize| -> Reg { [(r, col), (r + 1, col)] };
            // A fragment (rows r0.., columns k0..).
            let v1_a = [pair(r0 + g, k0 + c), pair(r0 + g + 8, k0 + c), pair(r0 + g, k0 + 8 + c), pair(r0 + g + 8, k0 + 8 + c)];
            let v2_a = ldsm(&|lane| (r0 + (lane & 7) + ((lane >> 3) & 1) * 8, k0 + (lane >> 4) * 8), false)[l];
            assert_eq!(v1_a, v2_a, "A fragment, lane {l}");
            // Two transposed B fragments (tile rows n0.. and n0+8.., columns k0..).
            let v1_bt = [pair(n0 + g, k0 + c), pair(n0 + g, k0 + 8 + c), pair(n0 + 8 + g, k0 + c), pair(n0 + 8 + g, k0 + 8 + c)];
            let v2_bt = ldsm(&|lane| (n0 + (lane & 7) + (lane >> 4) * 8, k0 + ((lane >> 3) & 1) * 8), false)[l];
            assert_eq!(v1_bt, v2_bt, "transposed B fragments, lane {l}");
            // Two B fragments read as is (tile rows k0.., columns n0.. and n0+8..).
            let v1_b = [col_pair(k0 + c, n0 + g), col_pair(k0 + 8 + c, n0 + g), col_pair(k0 + c, n0 + 8 + g), col_pair(k0 + 8 + c, n0 + 8 + g)];
            let v2_b = ldsm(&|lane| (k0 + (lane & 7) + ((lane >> 3) & 1) * 8, n0 + (lane >> 4) * 8), true)[l];
            assert_eq!(v1_b, v2_b, "B fragments, lane {l}");
        }
    }

    #[test]
    fn packed_columns_enumerate_the_same_pairs() {
        let sorted = |mut v: Vec<(usize, usize)>| {
            v.sort_unstable();
            v
        };
        // (n, l, packs): CIFAR-10 and ImageNet 64 shapes pack; long columns and ragged ones don't.
        for (n, l, packs) in [(3072, 96, true), (12288, 128, true), (640, 20, true), (4096, 16, false), (300, 16, false)] {
            for with_self in [true, false] {
                let part = SaPart::column(n, l, with_self, 2);
                let packed = part.packed_columns(64);
                assert_eq!(packed != part, packs, "n {n}, l {l}");
                if packs {
                    assert!(packed.q_len >= 64 && packed.q_len as usize * packed.n_seq as usize == n);
                }
                for h in 0..2 {
                    assert_eq!(sorted(packed.pairs(h)), sorted(part.pairs(h)), "n {n}, l {l}, head {h}");
                    let rows = |mut v: Vec<usize>| {
                        v.sort_unstable();
                        v
                    };
                    assert_eq!(rows(packed.query_rows(h)), (0..n).collect::<Vec<_>>());
                    assert_eq!(rows(packed.key_rows(h)), (0..n).collect::<Vec<_>>());
                }
                assert!(packed.covers_every_key(2) && packed.covers_every_query(2));
            }
        }
    }

    #[test]
    fn simple_parts_enumerate_their_sets() {
        let n = 10;
        let causal = SaPart::causal(n, 1).pairs(0);
        assert_eq!(causal.len(), n * (n + 1) / 2);
        let local = SaPart::local(n, 3, 1).pairs(0);
        assert!(local.iter().all(|&(i, j)| j <= i && i - j < 3) && local.len() == 1 + 2 + 3 * 8);
        let col = SaPart::column(n, 3, false, 1).pairs(0);
        assert!(col.iter().all(|&(i, j)| j < i && (i - j) % 3 == 0));
        assert_eq!(col.len(), (0..n).map(|i| i / 3).sum::<usize>());
        let own = SaPart::own_block(n, 4, 1).pairs(0);
        assert!(own.iter().all(|&(i, j)| j <= i && i / 4 == j / 4));
        // Fixed l = 4, c = 2: head 0 sees rows 2, 3 of each block; head 1 rows 0, 1.
        let sum = SaPart::summary(n, 4, 2, true, 2);
        assert!(sum.pairs(0).iter().all(|&(i, j)| j / 4 < i / 4 && j % 4 >= 2));
        assert!(sum.pairs(1).iter().all(|&(i, j)| j / 4 < i / 4 && j % 4 < 2));
        assert_eq!(sum.pairs(0).iter().filter(|p| p.0 == 9).count(), 4);
    }

    /// Version 23's compact dK/dV rows: for summary parts of every shape (odd lengths, several
    /// sub-blocks), `compact_key` finds key m at its row and no other row of the sequence.
    #[test]
    fn compact_keys_invert_the_summary_rows() {
        for (n, l, c) in [(1000, 128, 32), (1024, 128, 32), (1536, 64, 16), (517, 64, 16), (300, 32, 8)] {
            let part = SaPart::summary(n, l, c, true, 4);
            for h in 0..4 {
                let off = part.off(h);
                let mut found = vec![None; n];
                for m in 0..part.k_len as usize {
                    let row = (m / c) as i64 * l as i64 + (m % c) as i64 + off;
                    if (0..n as i64).contains(&row) {
                        found[row as usize] = Some(m);
                    }
                }
                for (row, want) in found.iter().enumerate() {
                    assert_eq!(part.compact_key(h, row), *want, "n {n}, l {l}, c {c}, head {h}, row {row}");
                }
            }
        }
    }

    /// Version 18's divisions by reciprocal (`quot` in `sparse_attention_parts.cuh`): for
    /// every divisor of every kind of part at the paper's lengths and odd ones, the high word
    /// of `x * r` is `x / d` for every index the kernels divide (below the bound
    /// `with_reciprocals` assumes); and the bound itself holds at its edge for every `d` up to
    /// 4096 (`x d = 2^32`, the largest `x` it allows).
    #[test]
    fn reciprocals_divide_exactly() {
        let mut parts = Vec::new();
        for n in [1000, 3072, 12288, 65536] {
            for l in [32, 96, 128, 256] {
                parts.extend([SaPart::causal(n, 2), SaPart::local(n, l, 2), SaPart::column(n, l, false, 2), SaPart::own_block(n, l, 2)]);
                parts.push(SaPart::column(n, l, false, 2).packed_columns(64));
                parts.extend([8, 32].map(|c| SaPart::summary(n, l, c, true, 2)));
            }
        }
        let mut checked = 0;
        for part in parts {
            let p = part.with_reciprocals();
            let bound = p.n.max(p.q_len).max(p.k_len) as u64 + 128;
            for (d, r) in [p.vis_a, p.k_group, p.q_group, p.seg].into_iter().zip(p.recip) {
                assert_eq!(r == 0, d < 2 || bound * d as u64 > 1 << 32, "{p:?}");
                if r != 0 {
                    assert!((0..bound).all(|x| (x * r as u64) >> 32 == x / d as u64), "d = {d}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 20);
        for d in 2..=4096u64 {
            let r = (1u64 << 32).div_ceil(d);
            let x = (1u64 << 32) / d;
            assert!([x, x - 1, x / 2 + 1].iter().all(|&x| (x * r) >> 32 == x / d), "d = {d}");
        }
    }
}
