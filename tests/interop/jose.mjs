#!/usr/bin/env node
// Interop harness: cross-checks cadena's partner-channel JOSE
// (credentials/src/jose.rs) against panva's `jose` (pinned in package.json).
// Reads one JSON request on stdin, writes one JSON answer on stdout.
//
// A token that jose refuses is an answer, not a failure: exit 0 with
// {"error":{"code","message"}} (jose's error code, e.g.
// ERR_JWE_DECRYPTION_FAILED, ERR_JWS_SIGNATURE_VERIFICATION_FAILED,
// ERR_JOSE_ALG_NOT_ALLOWED). Exit 1 means the harness itself could not answer
// (malformed request, unknown "op", a JWK jose cannot import); the reason is
// on stderr.
//
// Keys are JWKs: Ed25519 {"kty":"OKP","crv":"Ed25519","x","d"?}, P-256
// {"kty":"EC","crv":"P-256","x","y","d"?}, X25519
// {"kty":"OKP","crv":"X25519","x","d"?} ("d" only where a private key is
// asked for). Payloads are UTF-8 strings; answers also give the payload as
// base64url ("payloadBase64url") in case it is not text.
//
// Requests and answers (headers as cadena makes them: the JWS header is
// {"alg":"EdDSA"|"ES256","kid","typ":"cadena-partner+jws","aud"?}, the JWE
// header {"alg":"ECDH-ES","enc":"A256GCM","kid","epk","cty"?,"apu"?,"apv"?}):
//   sign-jws {payload, privateJwk, kid, aud?, typ?}        -> {jws}
//   verify-jws {jws, publicJwk}              -> {payload, payloadBase64url,
//                                                protectedHeader}
//   encrypt-jwe {payload, recipientPublicJwk, recipientKid, cty?,
//                apu?, apv? (base64url)}                    -> {jwe}
//   decrypt-jwe {jwe, recipientPrivateJwk}   -> {payload, payloadBase64url,
//                                                protectedHeader}
//   sign-and-encrypt {payload, senderPrivateJwk, senderKid,
//                     recipientPublicJwk, recipientKid}     -> {jwe}
//       (cadena's seal: the JWS names the recipient in "aud", the JWE has
//        cty "JWS")
//   decrypt-and-verify {jwe, recipientPrivateJwk, senderPublicJwk}
//       -> {payload, payloadBase64url, protectedHeader (the JWE's),
//           innerHeader (the JWS's)}
// The harness reports headers as they are; checking typ, cty, kid and aud
// is left to the caller, which is what is being cross-checked.
import {
  CompactEncrypt, CompactSign, compactDecrypt, compactVerify, errors,
  importJWK
} from 'jose';

import {dispatcher, runAsProgram} from './program.mjs';

const PARTNER_JWS_TYPE = 'cadena-partner+jws';
const NESTED_CONTENT_TYPE = 'JWS';
const JWS_ALGORITHMS = ['EdDSA', 'ES256'];
const JWE_ALG = 'ECDH-ES';
const JWE_ENC = 'A256GCM';

// What jose may accept when reading: exactly what cadena accepts.
const VERIFY_OPTIONS = {algorithms: JWS_ALGORITHMS};
const DECRYPT_OPTIONS = {
  keyManagementAlgorithms: [JWE_ALG],
  contentEncryptionAlgorithms: [JWE_ENC]
};

const encoder = new TextEncoder();

// ------------------------------------------------------------------ requests

function requireString(request, name) {
  const value = request[name];
  if(typeof value !== 'string') {
    throw new Error(`"${name}" must be a string.`);
  }
  return value;
}

function optionalString(request, name) {
  return request[name] === undefined ? undefined :
    requireString(request, name);
}

function requireJwk(request, name, {private: needsPrivate}) {
  const jwk = request[name];
  if(!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) {
    throw new Error(`"${name}" must be a JWK object.`);
  }
  if(needsPrivate && typeof jwk.d !== 'string') {
    throw new Error(`"${name}" must be a private JWK (with "d").`);
  }
  if(!needsPrivate && jwk.d !== undefined) {
    // A public key parameter that carries a private key is a caller bug.
    throw new Error(`"${name}" must be a public JWK (without "d").`);
  }
  return jwk;
}

// The JWS alg a key signs with: its type decides, as in cadena.
function signingAlg(jwk) {
  if(jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return 'EdDSA';
  }
  if(jwk.kty === 'EC' && jwk.crv === 'P-256') {
    return 'ES256';
  }
  throw new Error(`not a signing key: kty ${jwk.kty} crv ${jwk.crv}; ` +
    'expected OKP/Ed25519 or EC/P-256');
}

function requireX25519(jwk, name) {
  if(jwk.kty !== 'OKP' || jwk.crv !== 'X25519') {
    throw new Error(`"${name}" must be an OKP/X25519 JWK.`);
  }
  return jwk;
}

async function signingKey(request, name, options) {
  const jwk = requireJwk(request, name, options);
  const alg = signingAlg(jwk);
  return {alg, key: await importJWK(jwk, alg)};
}

async function agreementKey(request, name, options) {
  const jwk = requireX25519(requireJwk(request, name, options), name);
  return importJWK(jwk, JWE_ALG);
}

// ---------------------------------------------------------------- operations

// A refusal by jose is an answer; anything else (a bug here) is a failure.
async function answerOrRefusal(operation) {
  try {
    return await operation();
  } catch(e) {
    if(e instanceof errors.JOSEError) {
      return {error: {code: e.code, message: e.message}};
    }
    // WebCrypto refuses an all-zero X25519 secret (low-order epk) this way.
    if(e?.name === 'OperationError') {
      return {error: {code: 'OperationError', message: e.message}};
    }
    throw e;
  }
}

function payloadAnswer(bytes) {
  return {
    payload: new TextDecoder().decode(bytes),
    payloadBase64url: Buffer.from(bytes).toString('base64url')
  };
}

async function signJws({payload, key, alg, kid, aud, typ}) {
  return new CompactSign(encoder.encode(payload))
    .setProtectedHeader({
      alg, kid, typ: typ ?? PARTNER_JWS_TYPE,
      ...(aud !== undefined ? {aud} : {})
    })
    .sign(key);
}

async function encryptJwe({payload, key, kid, cty, apu, apv}) {
  const jwe = new CompactEncrypt(
    typeof payload === 'string' ? encoder.encode(payload) : payload)
    .setProtectedHeader(
      {alg: JWE_ALG, enc: JWE_ENC, kid, ...(cty !== undefined ? {cty} : {})});
  if(apu !== undefined || apv !== undefined) {
    jwe.setKeyManagementParameters({
      ...(apu !== undefined ? {apu: Buffer.from(apu, 'base64url')} : {}),
      ...(apv !== undefined ? {apv: Buffer.from(apv, 'base64url')} : {})
    });
  }
  return jwe.encrypt(key);
}

async function opSignJws(request) {
  const payload = requireString(request, 'payload');
  const kid = requireString(request, 'kid');
  const aud = optionalString(request, 'aud');
  const typ = optionalString(request, 'typ');
  const {alg, key} = await signingKey(request, 'privateJwk', {private: true});
  return {jws: await signJws({payload, key, alg, kid, aud, typ})};
}

async function opVerifyJws(request) {
  const jws = requireString(request, 'jws');
  const {key} = await signingKey(request, 'publicJwk', {private: false});
  return answerOrRefusal(async () => {
    const {payload, protectedHeader} =
      await compactVerify(jws, key, VERIFY_OPTIONS);
    return {...payloadAnswer(payload), protectedHeader};
  });
}

async function opEncryptJwe(request) {
  const payload = requireString(request, 'payload');
  const kid = requireString(request, 'recipientKid');
  const cty = optionalString(request, 'cty');
  const apu = optionalString(request, 'apu');
  const apv = optionalString(request, 'apv');
  const key = await agreementKey(
    request, 'recipientPublicJwk', {private: false});
  return {jwe: await encryptJwe({payload, key, kid, cty, apu, apv})};
}

async function opDecryptJwe(request) {
  const jwe = requireString(request, 'jwe');
  const key = await agreementKey(
    request, 'recipientPrivateJwk', {private: true});
  return answerOrRefusal(async () => {
    const {plaintext, protectedHeader} =
      await compactDecrypt(jwe, key, DECRYPT_OPTIONS);
    return {...payloadAnswer(plaintext), protectedHeader};
  });
}

async function opSignAndEncrypt(request) {
  const payload = requireString(request, 'payload');
  const senderKid = requireString(request, 'senderKid');
  const recipientKid = requireString(request, 'recipientKid');
  const {alg, key: senderKey} =
    await signingKey(request, 'senderPrivateJwk', {private: true});
  const recipientKey = await agreementKey(
    request, 'recipientPublicJwk', {private: false});
  const jws = await signJws(
    {payload, key: senderKey, alg, kid: senderKid, aud: recipientKid});
  const jwe = await encryptJwe({
    payload: jws, key: recipientKey, kid: recipientKid,
    cty: NESTED_CONTENT_TYPE
  });
  return {jwe};
}

async function opDecryptAndVerify(request) {
  const jwe = requireString(request, 'jwe');
  const recipientKey = await agreementKey(
    request, 'recipientPrivateJwk', {private: true});
  const {key: senderKey} =
    await signingKey(request, 'senderPublicJwk', {private: false});
  return answerOrRefusal(async () => {
    const {plaintext, protectedHeader} =
      await compactDecrypt(jwe, recipientKey, DECRYPT_OPTIONS);
    const {payload, protectedHeader: innerHeader} = await compactVerify(
      new TextDecoder().decode(plaintext), senderKey, VERIFY_OPTIONS);
    return {...payloadAnswer(payload), protectedHeader, innerHeader};
  });
}

const OPERATIONS = {
  'sign-jws': opSignJws,
  'verify-jws': opVerifyJws,
  'encrypt-jwe': opEncryptJwe,
  'decrypt-jwe': opDecryptJwe,
  'sign-and-encrypt': opSignAndEncrypt,
  'decrypt-and-verify': opDecryptAndVerify
};

export const handle = dispatcher(OPERATIONS);

runAsProgram(import.meta.url, handle);
