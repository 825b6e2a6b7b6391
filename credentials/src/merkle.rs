//! Merkle trees of credential digests, built exactly as OpenZeppelin's `StandardMerkleTree`
//! (leaf encoding `["bytes32"]`, sorted leaves) so that `MerkleProof.verify` on chain, and any
//! OpenZeppelin tooling, accept the root and proofs cadena anchors.
//!
//! - leaf = keccak256(keccak256(abi.encode(digest))): for a `bytes32`, `abi.encode` is the 32
//!   bytes themselves; hashing twice keeps a leaf from ever equalling an inner node.
//! - inner node = keccak256(min(a, b) ‖ max(a, b)) (sorted pairs: a proof needs no
//!   left/right flags).
//! - The tree is the array form: leaves, sorted, at the end in reverse order; node `i` has
//!   children `2i+1` and `2i+2`; the root is node 0.

use tiny_keccak::{Hasher, Keccak};

/// 32 bytes.
pub type Hash = [u8; 32];

fn keccak(parts: &[&[u8]]) -> Hash {
    let mut hasher = Keccak::v256();
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

/// The tree leaf of a credential digest.
pub fn leaf_of(digest: &Hash) -> Hash {
    keccak(&[&keccak(&[digest])])
}

fn hash_pair(a: &Hash, b: &Hash) -> Hash {
    if a <= b { keccak(&[a, b]) } else { keccak(&[b, a]) }
}

/// A built tree.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    nodes: Vec<Hash>,
    /// For each input digest (in input order), its node index.
    positions: Vec<usize>,
}

/// Why a tree cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MerkleError {
    /// No leaves.
    #[error("a Merkle tree needs at least one digest")]
    Empty,
    /// The same digest twice (its leaf would be ambiguous).
    #[error("digest {0} appears twice")]
    Duplicate(String),
}

impl MerkleTree {
    /// The tree of `digests`.
    pub fn build(digests: &[Hash]) -> Result<MerkleTree, MerkleError> {
        if digests.is_empty() {
            return Err(MerkleError::Empty);
        }
        let mut leaves: Vec<(Hash, usize)> = digests.iter().enumerate().map(|(i, d)| (leaf_of(d), i)).collect();
        leaves.sort();
        if let Some(pair) = leaves.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(MerkleError::Duplicate(hex::encode(digests[pair[0].1])));
        }
        let n = leaves.len();
        let mut nodes = vec![[0u8; 32]; 2 * n - 1];
        let mut positions = vec![0; n];
        for (i, (leaf, input)) in leaves.iter().enumerate() {
            let at = nodes.len() - 1 - i;
            nodes[at] = *leaf;
            positions[*input] = at;
        }
        for i in (0..nodes.len() - n).rev() {
            nodes[i] = hash_pair(&nodes[2 * i + 1], &nodes[2 * i + 2]);
        }
        Ok(MerkleTree { nodes, positions })
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.nodes[0]
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether the tree has no leaves (never: [`MerkleTree::build`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The position of the `i`th input digest among the tree's leaves (its leaf index).
    pub fn leaf_index(&self, i: usize) -> usize {
        self.nodes.len() - 1 - self.positions[i]
    }

    /// The proof of the `i`th input digest: sibling hashes from the leaf up.
    pub fn proof(&self, i: usize) -> Vec<Hash> {
        self.proof_from(self.positions[i])
    }

    /// The leaf index and proof of `digest`, when it is one of the tree's inputs: found among
    /// the sorted leaves, so a tree rebuilt from its digests needs no list of them beside it.
    pub fn find(&self, digest: &Hash) -> Option<(usize, Vec<Hash>)> {
        let leaf = leaf_of(digest);
        let first_leaf = self.nodes.len() - self.len();
        // The leaves sit at the end of `nodes` in descending order.
        let offset = self.nodes[first_leaf..].binary_search_by(|node| leaf.cmp(node)).ok()?;
        let at = first_leaf + offset;
        Some((self.nodes.len() - 1 - at, self.proof_from(at)))
    }

    /// Sibling hashes from node `at` up to the root.
    fn proof_from(&self, mut at: usize) -> Vec<Hash> {
        let mut proof = Vec::new();
        while at > 0 {
            let sibling = if at % 2 == 1 { at + 1 } else { at - 1 };
            proof.push(self.nodes[sibling]);
            at = (at - 1) / 2;
        }
        proof
    }
}

/// Checks a proof as `MerkleProof.verify` does.
pub fn verify(root: &Hash, proof: &[Hash], digest: &Hash) -> bool {
    let computed = proof.iter().fold(leaf_of(digest), |node, sibling| hash_pair(&node, sibling));
    &computed == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests(n: usize) -> Vec<Hash> {
        (0..n).map(|i| keccak(&[&(i as u64).to_be_bytes()])).collect()
    }

    #[test]
    fn every_proof_verifies_and_only_for_its_digest() {
        for n in [1, 2, 3, 5, 8, 13, 100] {
            let ds = digests(n);
            let tree = MerkleTree::build(&ds).unwrap();
            for (i, d) in ds.iter().enumerate() {
                assert!(verify(&tree.root(), &tree.proof(i), d), "n={n} i={i}");
                let other = keccak(&[d]);
                assert!(!verify(&tree.root(), &tree.proof(i), &other));
            }
            for (i, d) in ds.iter().enumerate() {
                assert_eq!(tree.find(d), Some((tree.leaf_index(i), tree.proof(i))), "n={n} i={i}");
            }
            assert_eq!(tree.find(&keccak(&[b"not an input"])), None);
            let mut indices: Vec<usize> = (0..n).map(|i| tree.leaf_index(i)).collect();
            indices.sort();
            assert_eq!(indices, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_single_leaf_is_its_own_root() {
        let d = digests(1);
        let tree = MerkleTree::build(&d).unwrap();
        assert_eq!(tree.root(), leaf_of(&d[0]));
        assert!(tree.proof(0).is_empty());
    }

    #[test]
    fn empty_and_duplicate_inputs_are_refused() {
        assert_eq!(MerkleTree::build(&[]).unwrap_err(), MerkleError::Empty);
        let d = digests(2);
        assert!(matches!(MerkleTree::build(&[d[0], d[1], d[0]]), Err(MerkleError::Duplicate(_))));
    }
}
