/*!
 * Keys and JWS on node:crypto alone, shared by the wallet and its self-test: Ed25519 holder keys
 * (from a seed when given, so a test can predict the DID), did:key (multicodec ed25519-pub 0xed01,
 * base58btc), compact JWS for EdDSA and ES256, and hashing by IANA name. The libraries take these
 * as callbacks; none of them brings its own crypto.
 */
import {createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify} from 'node:crypto';

// An Ed25519 PKCS#8 DER is this prefix followed by the 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_MULTICODEC = Buffer.from([0xed, 0x01]);
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export const b64u = value => Buffer.from(value).toString('base64url');
export const jsonB64u = value => b64u(JSON.stringify(value));
export const fromB64uJson = text => JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));

// ------------------------------------------------------------------ base58btc

function base58Encode(bytes) {
  let n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  let out = '';
  while(n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for(const byte of bytes) {
    if(byte !== 0) {
      break;
    }
    out = '1' + out;
  }
  return out;
}

function base58Decode(text) {
  let n = 0n;
  for(const char of text) {
    const digit = BASE58.indexOf(char);
    if(digit < 0) {
      throw new Error(`"${char}" is not a base58 character.`);
    }
    n = n * 58n + BigInt(digit);
  }
  const hex = n === 0n ? '' : n.toString(16);
  const body = Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex');
  const zeros = text.length - text.replace(/^1+/, '').length;
  return Buffer.concat([Buffer.alloc(zeros), body]);
}

// ----------------------------------------------------------------------- keys

/** A holder: its Ed25519 key pair, the public and private JWKs, its did:key and key id. */
function holderOf(privateKey) {
  const {d, x} = privateKey.export({format: 'jwk'});
  const publicJwk = {kty: 'OKP', crv: 'Ed25519', x};
  const multibase = 'z' + base58Encode(
    Buffer.concat([ED25519_MULTICODEC, Buffer.from(x, 'base64url')]));
  const did = `did:key:${multibase}`;
  return {
    privateKey, publicJwk, privateJwk: {...publicJwk, d}, did, kid: `${did}#${multibase}`
  };
}

/** A holder from a 64-hex seed (deterministic) or, without one, from fresh randomness. */
export function holderFromSeed(seedHex) {
  if(seedHex !== undefined && !/^[0-9a-fA-F]{64}$/.test(String(seedHex))) {
    throw new Error('"holderSeed" must be 32 bytes as 64 hex characters.');
  }
  const seed = seedHex === undefined ? randomBytes(32) : Buffer.from(seedHex, 'hex');
  return holderOf(createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8'
  }));
}

/** A holder again, from the private JWK a previous answer gave out. */
export function holderFromPrivateJwk(privateJwk) {
  if(privateJwk?.kty !== 'OKP' || privateJwk?.crv !== 'Ed25519' || typeof privateJwk?.d !== 'string') {
    throw new Error('"holder.privateJwk" must be a private Ed25519 JWK.');
  }
  return holderOf(createPrivateKey({key: privateJwk, format: 'jwk'}));
}

/** The public JWK a did:key URL (with or without #fragment) names; Ed25519 keys only. */
export function didKeyToJwk(didUrl) {
  const multibase = String(didUrl).replace(/^did:key:/, '').split('#')[0];
  const bytes = multibase.startsWith('z') ? base58Decode(multibase.slice(1)) : Buffer.alloc(0);
  if(bytes.length !== 34 || !bytes.subarray(0, 2).equals(ED25519_MULTICODEC)) {
    throw new Error(`"${didUrl}" is not an Ed25519 did:key.`);
  }
  return {kty: 'OKP', crv: 'Ed25519', x: b64u(bytes.subarray(2))};
}

// ------------------------------------------------------------------------ JWS

/** JWS algs per key: RFC 8037's "EdDSA" and RFC 9864's fully specified "Ed25519" are one thing. */
function algsFor(jwk) {
  if(jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return ['EdDSA', 'Ed25519'];
  }
  if(jwk.kty === 'EC' && jwk.crv === 'P-256') {
    return ['ES256'];
  }
  throw new Error(`Unsupported key ${JSON.stringify({kty: jwk.kty, crv: jwk.crv})}.`);
}

// ES256 signatures are r||s (IEEE P1363) in JOSE, not DER.
const ecOptions = key => ({key, dsaEncoding: 'ieee-p1363'});

/** Signs the JWS signing input with an Ed25519 or P-256 private KeyObject; base64url signature. */
export function signInput(input, privateKey) {
  const data = Buffer.from(input);
  return b64u(privateKey.asymmetricKeyType === 'ed25519' ?
    sign(null, data, privateKey) : sign('sha256', data, ecOptions(privateKey)));
}

/** Whether `signature` (base64url) signs `input` under `publicJwk` with the header's alg. */
export function verifyInput(input, signature, publicJwk) {
  const {alg} = fromB64uJson(String(input).split('.')[0]);
  if(!algsFor(publicJwk).includes(alg)) {
    return false;
  }
  const key = createPublicKey({key: publicJwk, format: 'jwk'});
  const data = Buffer.from(input);
  const sig = Buffer.from(signature, 'base64url');
  return publicJwk.kty === 'OKP' ?
    verify(null, data, key, sig) : verify('sha256', data, ecOptions(key), sig);
}

/** A compact JWS of `payload` under `header`. */
export function signJws(header, payload, privateKey) {
  const input = `${jsonB64u(header)}.${jsonB64u(payload)}`;
  return `${input}.${signInput(input, privateKey)}`;
}

export function publicJwkOf(privateKey) {
  const {d, ...publicJwk} = privateKey.export({format: 'jwk'});
  return publicJwk;
}

// ---------------------------------------------------------------------- hashes

const HASHES = {'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512'};

/** Hash by IANA name ("sha-256"), as both libraries name it; strings are hashed as UTF-8. */
export function hash(data, alg) {
  const name = HASHES[String(alg).toLowerCase()];
  if(!name) {
    throw new Error(`Unsupported hash algorithm "${alg}".`);
  }
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  return new Uint8Array(createHash(name).update(bytes).digest());
}

/**
 * The libraries' verifyJwt callback: the key is the signer's JWK, or the Ed25519 key its did:key
 * names; anything else is not verified.
 */
export async function verifyJwtCallback(signer, {compact}) {
  let publicJwk;
  if(signer.method === 'jwk') {
    publicJwk = signer.publicJwk;
  } else if(signer.method === 'did' && signer.didUrl.startsWith('did:key:')) {
    publicJwk = didKeyToJwk(signer.didUrl);
  } else {
    return {verified: false};
  }
  const [header, payload, signature] = compact.split('.');
  return {verified: verifyInput(`${header}.${payload}`, signature, publicJwk), signerJwk: publicJwk};
}
