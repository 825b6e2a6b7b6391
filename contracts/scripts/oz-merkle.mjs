#!/usr/bin/env node
// Reads {"digests": ["0x<32 bytes>", ...]} on stdin and prints
//   {"root": "0x..", "proofs": {"0x<digest>": ["0x..", ...]}, "leaves": {"0x<digest>": "0x<leaf>"}}
// computed by @openzeppelin/merkle-tree: StandardMerkleTree.of(digests.map((d) => [d]), ["bytes32"])
// (default options: leaves sorted). leaf = keccak256(bytes.concat(keccak256(abi.encode(digest)))),
// nodes = sorted-pair keccak256, as AnchorRegistry.verifyLeaf / leafOf expect.
// Digests are lower-cased in the output keys. Duplicates and non-32-byte values are refused (exit 1).
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

function fail(message) {
  process.stderr.write(`oz-merkle: ${message}\n`);
  process.exit(1);
}

let text = '';
for await (const chunk of process.stdin) text += chunk;
let input;
try {
  input = JSON.parse(text);
} catch (e) {
  fail(`stdin is not JSON: ${e.message}`);
}
const digests = input?.digests;
if (!Array.isArray(digests) || digests.length === 0) fail('"digests" must be a non-empty array');
const seen = new Set();
for (const d of digests) {
  if (typeof d !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(d)) fail(`not a 32-byte hex digest: ${JSON.stringify(d)}`);
  const k = d.toLowerCase();
  if (seen.has(k)) fail(`duplicate digest ${k}`);
  seen.add(k);
}

const tree = StandardMerkleTree.of(digests.map((d) => [d.toLowerCase()]), ['bytes32']);
const proofs = {};
const leaves = {};
for (const [i, [digest]] of tree.entries()) {
  proofs[digest] = tree.getProof(i);
  leaves[digest] = tree.leafHash([digest]);
}
process.stdout.write(`${JSON.stringify({ root: tree.root, proofs, leaves })}\n`);
