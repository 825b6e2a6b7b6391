#!/usr/bin/env node
// Compiles solidity/*.sol (and solidity/test/*.sol) with the pinned solcjs through standard JSON and writes one
// artifact per deployable contract: artifacts/<Name>.json (test contracts: artifacts/test/<Name>.json)
// as {"contractName", "abi", "bytecode": {"object"}, "deployedBytecode": {"object"}}.
//
//   node compile.mjs           write the artifacts
//   node compile.mjs --check   compile in memory; exit 1 naming every artifact that differs from
//                              (or is missing in, or is stale in) the tree
//
// Deterministic: fixed settings, metadata without source hash (bytecodeHash "none"), sorted files,
// 2-space JSON with a trailing newline. Compiler warnings are printed; errors exit 2.
// Guard: evmVersion is "paris" (no PUSH0); on top of that the build fails if any bytecode contains
// an opcode newer than Petersburg (CHAINID, SELFBALANCE, BASEFEE, PUSH0, MCOPY, TLOAD/TSTORE, ...),
// so the contracts run on a Besu chain at any milestone from Constantinople-fix/Petersburg on.
// The scan skips PUSH data and the CBOR metadata tail.
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const solc = require('solc');

const ROOT = dirname(fileURLToPath(import.meta.url));
const EVM_VERSION = 'paris';
const SOLC_VERSION = JSON.parse(readFileSync(join(ROOT, 'node_modules/solc/package.json'), 'utf8')).version;
const SOURCE_DIRS = [
  { dir: 'solidity', out: 'artifacts' },
  { dir: 'solidity/test', out: 'artifacts/test' },
];

const check = process.argv.includes('--check');

function solFiles(dir) {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs)
    .filter((f) => f.endsWith('.sol'))
    .sort()
    .map((f) => `${dir}/${f}`);
}

// Import callback: "@scope/pkg/..." from node_modules, anything else relative to this folder.
function findImports(path) {
  const base = path.startsWith('@') ? join(ROOT, 'node_modules') : ROOT;
  const abs = resolve(base, path);
  if (!abs.startsWith(ROOT + sep)) return { error: `import outside contracts/: ${path}` };
  try {
    return { contents: readFileSync(abs, 'utf8') };
  } catch {
    return { error: `file not found: ${path}` };
  }
}

const files = SOURCE_DIRS.flatMap(({ dir }) => solFiles(dir));
const input = {
  language: 'Solidity',
  sources: Object.fromEntries(files.map((f) => [f, { content: readFileSync(join(ROOT, f), 'utf8') }])),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: EVM_VERSION,
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};

if (!solc.version().startsWith(SOLC_VERSION)) {
  console.error(`solc ${solc.version()} is not the pinned ${SOLC_VERSION}`);
  process.exit(2);
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
let failed = false;
for (const e of output.errors ?? []) {
  const text = (e.formattedMessage ?? e.message).trimEnd();
  if (e.severity === 'error') failed = true;
  console.error(text);
}
if (failed) {
  console.error('compilation failed');
  process.exit(2);
}
const warnings = (output.errors ?? []).filter((e) => e.severity !== 'error').length;

// Opcodes introduced after Petersburg: CHAINID SELFBALANCE BASEFEE BLOBHASH BLOBBASEFEE TLOAD
// TSTORE MCOPY PUSH0 (and PREVRANDAO is DIFFICULTY's byte, harmless).
const LATE_OPCODES = new Map([
  [0x46, 'CHAINID'], [0x47, 'SELFBALANCE'], [0x48, 'BASEFEE'], [0x49, 'BLOBHASH'],
  [0x4a, 'BLOBBASEFEE'], [0x5c, 'TLOAD'], [0x5d, 'TSTORE'], [0x5e, 'MCOPY'], [0x5f, 'PUSH0'],
]);
function stripMetadata(hex) {
  const code = Buffer.from(hex, 'hex');
  if (code.length < 2) return code;
  const len = code.readUInt16BE(code.length - 2);
  return len + 2 <= code.length ? code.subarray(0, code.length - len - 2) : code;
}
function lateOpcodes(code) {
  const found = new Set();
  for (let i = 0; i < code.length; i++) {
    const op = code[i];
    if (LATE_OPCODES.has(op)) found.add(LATE_OPCODES.get(op));
    if (op >= 0x60 && op <= 0x7f) i += op - 0x5f; // skip PUSHn data
  }
  return [...found];
}

const artifacts = new Map(); // relative path -> text
for (const { dir, out } of SOURCE_DIRS) {
  for (const file of solFiles(dir)) {
    for (const [name, c] of Object.entries(output.contracts?.[file] ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const creation = c.evm.bytecode.object;
      const runtime = c.evm.deployedBytecode.object;
      if (!creation) continue; // abstract contracts, interfaces
      const init = creation.endsWith(runtime)
        ? Buffer.from(creation.slice(0, creation.length - runtime.length), 'hex')
        : stripMetadata(creation);
      const late = [...new Set([...lateOpcodes(init), ...lateOpcodes(stripMetadata(runtime))])];
      if (late.length) {
        console.error(`${file}:${name} uses opcodes newer than Petersburg: ${late.join(', ')}`);
        process.exit(2);
      }
      const path = `${out}/${name}.json`;
      if (artifacts.has(path)) {
        console.error(`two contracts named ${name}`);
        process.exit(2);
      }
      const artifact = {
        contractName: name,
        abi: c.abi,
        bytecode: { object: `0x${creation}` },
        deployedBytecode: { object: `0x${runtime}` },
      };
      artifacts.set(path, `${JSON.stringify(artifact, null, 2)}\n`);
    }
  }
}

const summary = `solc ${solc.version()}, evmVersion ${EVM_VERSION}, ${files.length} sources, ${artifacts.size} artifacts, ${warnings} warnings`;

if (check) {
  const differing = [];
  for (const [path, text] of artifacts) {
    const abs = join(ROOT, path);
    if (!existsSync(abs)) differing.push(`${path} (missing)`);
    else if (readFileSync(abs, 'utf8') !== text) differing.push(`${path} (differs)`);
  }
  for (const { out } of SOURCE_DIRS) {
    const abs = join(ROOT, out);
    if (!existsSync(abs)) continue;
    for (const f of readdirSync(abs).filter((f) => f.endsWith('.json')).sort()) {
      const path = `${out}/${f}`;
      if (!artifacts.has(path)) differing.push(`${path} (stale: no such contract)`);
    }
  }
  if (differing.length) {
    for (const d of differing) console.error(`artifact out of date: ${d}`);
    console.error('run `node compile.mjs` in contracts/ and commit the artifacts');
    process.exit(1);
  }
  console.log(`artifacts up to date (${summary})`);
} else {
  for (const [path, text] of artifacts) {
    const abs = join(ROOT, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, text);
    console.log(`wrote ${relative(ROOT, abs)}`);
  }
  console.log(summary);
}
