//! One random cut tree (Guha et al. 2016, section 3), kept incrementally:
//! [`Tree::insert`] adds a point, [`Tree::delete`] removes one, and
//! [`Tree::score`] / [`Tree::attribution`] evaluate a point without
//! changing the tree.
//!
//! Storage is two fixed arenas sized once from the sample size `n`: `n`
//! leaves (each holds its point and a mass, the number of sampled copies of
//! that point) and `n - 1` internal nodes (each holds its cut, children,
//! parent, mass and bounding box). Freed slots go on free lists, so a tree
//! never allocates after it is built.
//!
//! A cut `(dimension, value)` sends `x` left when `x[dimension] <= value`.

use crate::rng::SplitMix64;

/// Marks a child reference as a leaf index (otherwise an internal index).
const LEAF: u32 = 1 << 31;
/// No node (empty tree's root, root's parent).
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct Tree {
    dim: usize,
    root: u32,
    // Internal nodes, by index.
    cut_dim: Vec<u32>,
    cut_value: Vec<f64>,
    left: Vec<u32>,
    right: Vec<u32>,
    parent: Vec<u32>,
    mass: Vec<u32>,
    /// `2 * dim` values per node: the minima, then the maxima.
    bounds: Vec<f64>,
    free_internal: Vec<u32>,
    // Leaves, by index.
    points: Vec<f64>,
    leaf_parent: Vec<u32>,
    leaf_mass: Vec<u32>,
    free_leaf: Vec<u32>,
    /// Scratch: the internal nodes on a root-to-leaf path.
    path: Vec<u32>,
    /// Scratch: one tree's attribution while it is computed.
    scratch_high: Vec<f64>,
    scratch_low: Vec<f64>,
}

impl Tree {
    /// An empty tree that can hold `capacity` sampled points of `dim` values.
    pub(crate) fn new(dim: usize, capacity: usize) -> Self {
        let internal = capacity.saturating_sub(1).max(1);
        Self {
            dim,
            root: NONE,
            cut_dim: vec![0; internal],
            cut_value: vec![0.0; internal],
            left: vec![NONE; internal],
            right: vec![NONE; internal],
            parent: vec![NONE; internal],
            mass: vec![0; internal],
            bounds: vec![0.0; internal * 2 * dim],
            free_internal: (0..internal as u32).rev().collect(),
            points: vec![0.0; capacity * dim],
            leaf_parent: vec![NONE; capacity],
            leaf_mass: vec![0; capacity],
            free_leaf: (0..capacity as u32).rev().collect(),
            path: Vec::with_capacity(64),
            scratch_high: Vec::with_capacity(dim),
            scratch_low: Vec::with_capacity(dim),
        }
    }

    /// Sampled points in the tree, duplicates counted.
    pub(crate) fn mass(&self) -> u32 {
        self.node_mass(self.root)
    }

    fn node_mass(&self, node: u32) -> u32 {
        if node == NONE {
            0
        } else if node & LEAF != 0 {
            self.leaf_mass[(node & !LEAF) as usize]
        } else {
            self.mass[node as usize]
        }
    }

    fn point(&self, leaf: u32) -> &[f64] {
        let at = leaf as usize * self.dim;
        &self.points[at..at + self.dim]
    }

    fn min(&self, node: u32) -> &[f64] {
        let at = node as usize * 2 * self.dim;
        &self.bounds[at..at + self.dim]
    }

    fn max(&self, node: u32) -> &[f64] {
        let at = node as usize * 2 * self.dim + self.dim;
        &self.bounds[at..at + self.dim]
    }

    /// The (min, max) of `node`'s box in dimension `d`.
    fn range_of(&self, node: u32, d: usize) -> (f64, f64) {
        if node & LEAF != 0 {
            let v = self.points[(node & !LEAF) as usize * self.dim + d];
            (v, v)
        } else {
            let at = node as usize * 2 * self.dim;
            (self.bounds[at + d], self.bounds[at + self.dim + d])
        }
    }

    fn child_towards(&self, node: u32, p: &[f64]) -> u32 {
        let i = node as usize;
        if p[self.cut_dim[i] as usize] <= self.cut_value[i] {
            self.left[i]
        } else {
            self.right[i]
        }
    }

    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NONE {
            self.root = new;
        } else if self.left[parent as usize] == old {
            self.left[parent as usize] = new;
        } else {
            self.right[parent as usize] = new;
        }
    }

    fn set_parent(&mut self, node: u32, parent: u32) {
        if node & LEAF != 0 {
            self.leaf_parent[(node & !LEAF) as usize] = parent;
        } else {
            self.parent[node as usize] = parent;
        }
    }

    /// Adds `p` and returns the leaf that holds it (an existing leaf when
    /// `p` is already in the tree). The caller (the sampler) never inserts
    /// more points than the capacity, so the arenas cannot run out; if they
    /// did, the point is not inserted and `None` is returned.
    pub(crate) fn insert(&mut self, p: &[f64], rng: &mut SplitMix64) -> Option<u32> {
        debug_assert_eq!(p.len(), self.dim);
        if self.root == NONE {
            let leaf = self.new_leaf(p, NONE)?;
            self.root = leaf | LEAF;
            return Some(leaf);
        }
        // Make sure the split below can get a slot before changing anything.
        if self.free_internal.is_empty() || self.free_leaf.is_empty() {
            // A duplicate of an existing point needs no new slot.
            let leaf = self.find_leaf(p)?;
            self.add_copy(leaf);
            return Some(leaf);
        }
        let mut node = self.root;
        let mut parent = NONE;
        loop {
            let is_leaf = node & LEAF != 0;
            // Ranges of the node's box merged with p.
            let mut total = 0.0;
            for (d, &x) in p.iter().enumerate() {
                let (lo, hi) = self.range_of(node, d);
                total += hi.max(x) - lo.min(x);
            }
            if is_leaf && total <= 0.0 {
                // p equals this leaf's point: one more copy of it.
                let leaf = node & !LEAF;
                self.leaf_mass[leaf as usize] += 1;
                return Some(leaf);
            }
            // A random cut of the merged box: dimension in proportion to its
            // range, value uniform within it.
            let (cut_dim, mut cut_value) = self.random_cut(node, p, total, rng);
            let (lo, hi) = self.range_of(node, cut_dim);
            let x = p[cut_dim];
            let mut cut_dim = cut_dim;
            let mut p_left = x <= cut_value && cut_value < lo;
            let mut p_right = hi <= cut_value && cut_value < x;
            if is_leaf && !p_left && !p_right {
                // Only floating-point rounding gets here (a leaf box is a
                // single point, so any cut inside the merged range splits
                // p from it): cut at the smaller of the two values instead.
                cut_value = x.min(lo);
                p_left = x < lo;
                p_right = x > lo;
                if !p_left && !p_right {
                    // Cannot happen: total > 0 means some dimension differs.
                    for (d, &xd) in p.iter().enumerate() {
                        let (v, _) = self.range_of(node, d);
                        if xd != v {
                            cut_dim = d;
                            cut_value = xd.min(v);
                            p_left = xd < v;
                            p_right = xd > v;
                            break;
                        }
                    }
                }
            }
            if p_left || p_right {
                let leaf = self.new_leaf(p, NONE)?;
                let inner = self.free_internal.pop()?;
                let i = inner as usize;
                self.cut_dim[i] = cut_dim as u32;
                self.cut_value[i] = cut_value;
                let (l, rgt) = if p_left {
                    (leaf | LEAF, node)
                } else {
                    (node, leaf | LEAF)
                };
                self.left[i] = l;
                self.right[i] = rgt;
                self.parent[i] = parent;
                self.mass[i] = self.node_mass(node) + 1;
                let at = i * 2 * self.dim;
                for (d, &xd) in p.iter().enumerate() {
                    let (lo, hi) = self.range_of(node, d);
                    self.bounds[at + d] = lo.min(xd);
                    self.bounds[at + self.dim + d] = hi.max(xd);
                }
                self.leaf_parent[leaf as usize] = inner;
                self.set_parent(node, inner);
                self.replace_child(parent, node, inner);
                return Some(leaf);
            }
            // The cut does not separate p: p belongs under this node; widen
            // its box, count p and go down the existing cut.
            let i = node as usize;
            let at = i * 2 * self.dim;
            for (d, &xd) in p.iter().enumerate() {
                if xd < self.bounds[at + d] {
                    self.bounds[at + d] = xd;
                }
                if xd > self.bounds[at + self.dim + d] {
                    self.bounds[at + self.dim + d] = xd;
                }
            }
            self.mass[i] += 1;
            parent = node;
            node = self.child_towards(node, p);
        }
    }

    /// Draws a cut of `node`'s box merged with `p` (`total` is the sum of
    /// the merged box's ranges, > 0): the dimension with probability
    /// proportional to its range, the value uniform in `[min, max)`.
    fn random_cut(&self, node: u32, p: &[f64], total: f64, rng: &mut SplitMix64) -> (usize, f64) {
        let mut r = rng.next_open01() * total;
        let mut last = (0, 0.0, 0.0);
        for (d, &x) in p.iter().enumerate() {
            let (lo, hi) = self.range_of(node, d);
            let (lo, hi) = (lo.min(x), hi.max(x));
            let range = hi - lo;
            if range > 0.0 {
                if r < range {
                    return (d, (lo + r).min(hi.next_down()));
                }
                r -= range;
                last = (d, lo, hi);
            }
        }
        // Rounding ran r past the last range: cut in the last dimension
        // that has one.
        let (d, lo, hi) = last;
        (d, (lo + 0.5 * (hi - lo)).min(hi.next_down()))
    }

    fn new_leaf(&mut self, p: &[f64], parent: u32) -> Option<u32> {
        let leaf = self.free_leaf.pop()?;
        let at = leaf as usize * self.dim;
        self.points[at..at + self.dim].copy_from_slice(p);
        self.leaf_parent[leaf as usize] = parent;
        self.leaf_mass[leaf as usize] = 1;
        Some(leaf)
    }

    /// The leaf holding exactly `p`, if any.
    fn find_leaf(&self, p: &[f64]) -> Option<u32> {
        let mut node = self.root;
        if node == NONE {
            return None;
        }
        while node & LEAF == 0 {
            node = self.child_towards(node, p);
        }
        let leaf = node & !LEAF;
        (self.point(leaf) == p).then_some(leaf)
    }

    /// One more copy of `leaf`'s point: its mass and its ancestors' grow.
    fn add_copy(&mut self, leaf: u32) {
        self.leaf_mass[leaf as usize] += 1;
        let mut node = self.leaf_parent[leaf as usize];
        while node != NONE {
            self.mass[node as usize] += 1;
            node = self.parent[node as usize];
        }
    }

    /// Removes one copy of the point held by `leaf` (as returned by
    /// [`Self::insert`]). When it was the last copy the leaf goes, its
    /// sibling takes its parent's place, and the boxes above shrink.
    pub(crate) fn delete(&mut self, leaf: u32) {
        let l = leaf as usize;
        if self.leaf_mass[l] == 0 {
            return;
        }
        self.leaf_mass[l] -= 1;
        let mut node = self.leaf_parent[l];
        if self.leaf_mass[l] > 0 {
            while node != NONE {
                self.mass[node as usize] -= 1;
                node = self.parent[node as usize];
            }
            return;
        }
        self.free_leaf.push(leaf);
        self.leaf_parent[l] = NONE;
        if node == NONE {
            self.root = NONE;
            return;
        }
        // Splice out the parent: the sibling moves up.
        let p = node as usize;
        let sibling = if self.left[p] == leaf | LEAF {
            self.right[p]
        } else {
            self.left[p]
        };
        let grand = self.parent[p];
        self.set_parent(sibling, grand);
        self.replace_child(grand, node, sibling);
        self.free_internal.push(node);
        self.parent[p] = NONE;
        // Every ancestor lost one point; recompute its box from its children.
        node = grand;
        while node != NONE {
            let i = node as usize;
            self.mass[i] -= 1;
            let (l, r) = (self.left[i], self.right[i]);
            let at = i * 2 * self.dim;
            for d in 0..self.dim {
                let (llo, lhi) = self.range_of(l, d);
                let (rlo, rhi) = self.range_of(r, d);
                self.bounds[at + d] = llo.min(rlo);
                self.bounds[at + self.dim + d] = lhi.max(rhi);
            }
            node = self.parent[i];
        }
    }

    /// Fills `self.path` with the internal nodes from the root to the leaf
    /// `p` falls into, and returns that leaf.
    fn trace(&mut self, p: &[f64]) -> u32 {
        self.path.clear();
        let mut node = self.root;
        while node & LEAF == 0 {
            self.path.push(node);
            node = self.child_towards(node, p);
        }
        node & !LEAF
    }

    /// The tree's anomaly score of `p`, unnormalised for the forest (see the
    /// crate documentation for the definition); 0 for an empty tree.
    pub(crate) fn score(&mut self, p: &[f64]) -> f64 {
        if self.root == NONE {
            return 0.0;
        }
        let tree_mass = f64::from(self.mass());
        let leaf = self.trace(p);
        let depth = self.path.len() as f64;
        if self.point(leaf) == p {
            // Seen before: p lies inside every box on the path, so no cut
            // above separates it; its score is that of a duplicate.
            let m = f64::from(self.leaf_mass[leaf as usize]);
            return damp(m, tree_mass) * score_seen(depth, m) * normaliser(tree_mass);
        }
        let mut score = score_unseen(depth);
        for k in (0..self.path.len()).rev() {
            let node = self.path[k];
            let (mut new_range, mut gap) = (0.0, 0.0);
            for ((&x, &lo), &hi) in p.iter().zip(self.min(node)).zip(self.max(node)) {
                let above = (x - hi).max(0.0);
                let below = (lo - x).max(0.0);
                gap += above + below;
                new_range += hi - lo + above + below;
            }
            if gap <= 0.0 {
                // p lies in this box and so in every box above it.
                break;
            }
            let separation = gap / new_range;
            score = separation * score_unseen(k as f64) + (1.0 - separation) * score;
        }
        score * normaliser(tree_mass)
    }

    /// Adds this tree's attribution of `p`'s score to `high` and `low` (one
    /// value per dimension of `p`): how much of the score comes from `p`
    /// lying above (high) or below (low) the sample in each dimension.
    /// Summed over dimensions, high + low is [`Self::score`].
    pub(crate) fn attribution(&mut self, p: &[f64], high: &mut [f64], low: &mut [f64]) {
        if self.root == NONE {
            return;
        }
        let tree_mass = f64::from(self.mass());
        let norm = normaliser(tree_mass);
        let leaf = self.trace(p);
        let depth = self.path.len() as f64;
        let dims = p.len() as f64;
        if self.point(leaf) == p {
            // A duplicate has no direction: spread its score evenly.
            let m = f64::from(self.leaf_mass[leaf as usize]);
            let each = damp(m, tree_mass) * score_seen(depth, m) * norm / (2.0 * dims);
            high.iter_mut().for_each(|h| *h += each);
            low.iter_mut().for_each(|l| *l += each);
            return;
        }
        // This tree's high/low, in scratch space (taken out of self while
        // the tree is read), added to the forest sums at the end.
        let n = p.len();
        let mut th = std::mem::take(&mut self.scratch_high);
        let mut tl = std::mem::take(&mut self.scratch_low);
        th.clear();
        th.resize(n, 0.0);
        tl.clear();
        tl.resize(n, 0.0);
        let q = self.point(leaf);
        let mut new_range = 0.0;
        for ((&x, &v), (h, l)) in p.iter().zip(q).zip(th.iter_mut().zip(tl.iter_mut())) {
            *h = (x - v).max(0.0);
            *l = (v - x).max(0.0);
            new_range += *h + *l;
        }
        let s = score_unseen(depth) / new_range;
        th.iter_mut().for_each(|h| *h *= s);
        tl.iter_mut().for_each(|l| *l *= s);
        for k in (0..self.path.len()).rev() {
            let node = self.path[k];
            let (mut new_range, mut gap) = (0.0, 0.0);
            for ((&x, &lo), &hi) in p.iter().zip(self.min(node)).zip(self.max(node)) {
                let above = (x - hi).max(0.0);
                let below = (lo - x).max(0.0);
                gap += above + below;
                new_range += hi - lo + above + below;
            }
            if gap <= 0.0 {
                break;
            }
            let keep = 1.0 - gap / new_range;
            let here = score_unseen(k as f64) / new_range;
            let (mins, maxs) = (self.min(node), self.max(node));
            for d in 0..n {
                let above = (p[d] - maxs[d]).max(0.0);
                let below = (mins[d] - p[d]).max(0.0);
                th[d] = above * here + keep * th[d];
                tl[d] = below * here + keep * tl[d];
            }
        }
        for d in 0..n {
            high[d] += th[d] * norm;
            low[d] += tl[d] * norm;
        }
        self.scratch_high = th;
        self.scratch_low = tl;
    }

    /// Checks the tree's invariants (tests only): masses add up, every box
    /// is the union of its children's, parents and children agree, cuts
    /// separate the children.
    #[cfg(test)]
    pub(crate) fn check(&self) -> u32 {
        if self.root == NONE {
            return 0;
        }
        assert_eq!(self.node_parent(self.root), NONE);
        self.check_node(self.root)
    }

    #[cfg(test)]
    fn node_parent(&self, node: u32) -> u32 {
        if node & LEAF != 0 {
            self.leaf_parent[(node & !LEAF) as usize]
        } else {
            self.parent[node as usize]
        }
    }

    #[cfg(test)]
    fn check_node(&self, node: u32) -> u32 {
        if node & LEAF != 0 {
            let m = self.leaf_mass[(node & !LEAF) as usize];
            assert!(m > 0);
            return m;
        }
        let i = node as usize;
        let (l, r) = (self.left[i], self.right[i]);
        assert_eq!(self.node_parent(l), node);
        assert_eq!(self.node_parent(r), node);
        let (d, c) = (self.cut_dim[i] as usize, self.cut_value[i]);
        assert!(self.range_of(l, d).1 <= c, "left child above the cut");
        assert!(self.range_of(r, d).0 > c, "right child not above the cut");
        for k in 0..self.dim {
            let (llo, lhi) = self.range_of(l, k);
            let (rlo, rhi) = self.range_of(r, k);
            assert_eq!(self.range_of(node, k), (llo.min(rlo), lhi.max(rhi)));
        }
        let m = self.check_node(l) + self.check_node(r);
        assert_eq!(self.mass[i], m);
        m
    }
}

/// Score contribution where `p` would be cut off at depth `depth`: the
/// shallower the isolation, the larger.
fn score_unseen(depth: f64) -> f64 {
    1.0 / (depth + 1.0)
}

/// Score of a point already in the tree `mass` times, at depth `depth`: as if
/// it sat `log2(mass + 1)` levels deeper.
fn score_seen(depth: f64, mass: f64) -> f64 {
    1.0 / (depth + (mass + 1.0).log2())
}

/// Dampens a duplicate's score by the share of the sample its copies make up.
fn damp(leaf_mass: f64, tree_mass: f64) -> f64 {
    1.0 - leaf_mass / (2.0 * tree_mass)
}

/// Scales a tree's score by `log2(mass + 1)`, the expected depth scale of a
/// tree of that many points, so scores are comparable across sample sizes
/// (about 1 for a typical point).
fn normaliser(tree_mass: f64) -> f64 {
    (tree_mass + 1.0).log2()
}
