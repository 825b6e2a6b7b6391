#!/usr/bin/env node
// Signs a LACChain gas-model transaction offline with @lacchain/gas-model-provider's own code.
//
// stdin:  {"privateKey":"0x..","chainId":648540,"nonce":0,"to":"0x..|null","data":"0x..",
//          "gasLimit":"...","nodeAddress":"0x..","expiration":1736790000}
// stdout: {"raw":"0x<signed legacy tx>","hash":"0x<keccak256(raw)>","calldata":"0x<signed data>"}
//
//   node scripts/lacchain-tx.mjs --self-test   re-signs the package's own test fixture and
//                                              compares with the package's expected bytes
//
// Which code produces the bytes:
//   ethers' AbstractSigner.sendTransaction(tx) does `pop = await this.populateTransaction(tx)`
//   (network: nonce, gas price, chainId), `delete pop.from`, `txObj = Transaction.from(pop)`, then
//   `provider.broadcastTransaction(await this.signTransaction(txObj))`. LacchainSigner (the
//   package's Wallet subclass) overrides only `signTransaction`, and that override is the whole
//   gas-model encoding: it resolves `to`/`from` (hex addresses need no provider), wraps the request
//   in `new LacchainTransactionRequest(tx, nodeAddress, expiration)` whose getters append
//   `AbiCoder.encode(["address","uint256"], [nodeAddress, expiration])` to `data` and report
//   `chainId` 0, builds `Transaction.from(<that wrapper>)`, signs `btx.unsignedHash` with the
//   wallet's signing key and returns `btx.serialized`.
//   This script therefore replaces only the network half: it builds `pop` itself from stdin (type 0,
//   gasPrice 0, value 0, the given nonce/gasLimit/chainId: what populateTransaction yields against a
//   LACChain node, whose gas price is 0 and which has no EIP-1559 fee data), does the same
//   `Transaction.from(pop)`, and calls `LacchainSigner.prototype.signTransaction` on a signer with
//   no provider. Nothing is re-implemented: raw, the data and the chainId behaviour are the
//   package's. ethers is loaded through the package's own resolution so both use one instance.
//
// Consequence to know: LacchainTransactionRequest.chainId is hard-wired to 0, so the signature is
// pre-EIP-155 (v = 27/28) whatever "chainId" says; the package's own fixture expects exactly that.
// "hash" is keccak256(raw), the hash of the user's signed transaction; a LACChain writer node
// relays it through the RelayHub and answers eth_sendRawTransaction with the hash to track.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pkgRequire = createRequire(require.resolve('@lacchain/gas-model-provider'));
const { LacchainSigner } = require('@lacchain/gas-model-provider');
const { Transaction, keccak256, getAddress } = pkgRequire('ethers');

/** Signs `req` exactly as LacchainSigner.sendTransaction would after populateTransaction. */
export async function signLacchain({ privateKey, chainId, nonce, to, data, gasLimit, nodeAddress, expiration }) {
  if (privateKey == null) throw new Error('privateKey is required');
  if (nodeAddress == null) throw new Error('nodeAddress is required');
  if (expiration == null) throw new Error('expiration is required');
  if (nonce == null) throw new Error('nonce is required');
  if (gasLimit == null) throw new Error('gasLimit is required');
  const key = privateKey.startsWith('0x') ? privateKey : `0x${privateKey}`;
  const signer = new LacchainSigner(key, null, getAddress(nodeAddress), BigInt(expiration));
  const pop = {
    type: 0,
    to: to == null ? null : getAddress(to),
    nonce: Number(nonce),
    gasLimit: BigInt(gasLimit),
    gasPrice: 0n,
    value: 0n,
    data: data ?? '0x',
    chainId: BigInt(chainId ?? 0),
  };
  const txObj = Transaction.from(pop);
  const raw = await signer.signTransaction(txObj);
  const parsed = Transaction.from(raw);
  if (parsed.from !== signer.address) throw new Error('signature does not recover to the signer');
  return { raw, hash: keccak256(raw), calldata: parsed.data };
}

async function selfTest() {
  // The package's fixture (dist/test/fixtures.js): same key, node, expiration, request, expected bytes.
  const fx = pkgRequire('./test/fixtures.js');
  const out = await signLacchain({
    privateKey: fx.aPrivateKey,
    chainId: fx.anOriginalTxRequest.chainId,
    nonce: fx.anOriginalTxRequest.nonce,
    to: fx.anOriginalTxRequest.to,
    data: fx.anOriginalTxRequest.data,
    gasLimit: fx.anOriginalTxRequest.gasLimit,
    nodeAddress: fx.aNodeAddress,
    expiration: fx.anExpirationTime,
  });
  if (out.raw !== fx.aSignedTxRequest) {
    process.stderr.write(`self-test FAILED\n got      ${out.raw}\n expected ${fx.aSignedTxRequest}\n`);
    process.exit(1);
  }
  process.stdout.write(`self-test ok: reproduces the package fixture (${out.hash})\n`);
}

async function main() {
  if (process.argv.includes('--self-test')) return selfTest();
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const out = await signLacchain(JSON.parse(text));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e) => {
  process.stderr.write(`lacchain-tx: ${e.message}\n`);
  process.exit(1);
});
