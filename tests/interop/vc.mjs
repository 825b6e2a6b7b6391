#!/usr/bin/env node
// Interop harness: cross-checks cadena's credentials against Digital
// Bazaar's reference libraries. Reads one JSON request on stdin, writes one
// JSON answer on stdout. An invalid credential is an answer (exit 0); exit 1
// means the harness itself failed (message on stderr). See README.md.
import {createECDH, randomBytes} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {cryptosuite as ecdsaRdfc2019} from
  '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import {checkStatus as checkBitstringStatus} from
  '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from
  '@digitalbazaar/credentials-context';
import {contexts as dataIntegrityContexts} from
  '@digitalbazaar/data-integrity-context';
import {contexts as multikeyContexts} from '@digitalbazaar/multikey-context';
import {contexts as securityContexts} from '@digitalbazaar/security-context';
import {contexts as bitstringContexts} from
  '@digitalbazaar/vc-bitstring-status-list-context';
import didContext from 'did-context';

import {dispatcher, runAsProgram} from './program.mjs';

const DID_V1 = 'https://www.w3.org/ns/did/v1';
const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';

// Every context the libraries may ask for, from npm packages: never fetched.
const BUNDLED_CONTEXTS = new Map([
  ...credentialsContexts, ...dataIntegrityContexts, ...multikeyContexts,
  ...securityContexts, ...bitstringContexts, ...didContext.contexts
]);

// cadena's own contexts, as shipped in the repository (URL -> file name in
// credentials/contexts/), so the harness checks the file cadena really uses.
const LOCAL_CONTEXT_DIR = new URL('../../credentials/contexts/', import.meta.url);
const LOCAL_CONTEXTS = JSON.parse(
  readFileSync(new URL('./contexts.json', import.meta.url), 'utf8'));

const CRYPTOSUITES = {
  'eddsa-rdfc-2022': eddsaRdfc2022,
  'ecdsa-rdfc-2019': ecdsaRdfc2019
};

// Verifying suites: one DataIntegrityProof per cryptosuite; jsonld-signatures
// picks the one whose `cryptosuite` matches the proof.
const VERIFY_SUITES = Object.values(CRYPTOSUITES).map(
  cryptosuite => new DataIntegrityProof({cryptosuite}));

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const FETCH_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------- keys/DIDs

function seedBytes(seed) {
  if(seed === undefined || seed === null) {
    return new Uint8Array(randomBytes(32));
  }
  if(typeof seed !== 'string' || !/^[0-9a-fA-F]{64}$/.test(seed)) {
    throw new Error('"seed" must be 32 bytes as 64 hex characters.');
  }
  return new Uint8Array(Buffer.from(seed, 'hex'));
}

// A key pair whose controller is its own did:key.
async function didKeyPair({cryptosuite, seed}) {
  const secret = seedBytes(seed);
  let keyPair;
  if(cryptosuite === 'eddsa-rdfc-2022') {
    keyPair = await Ed25519Multikey.generate({seed: secret});
  } else if(cryptosuite === 'ecdsa-rdfc-2019') {
    // WebCrypto cannot derive a P-256 key from a seed, so use the seed as
    // the private scalar and hand the library a JWK. `key_ops` keeps
    // fromJwk from treating the key as an ECDH (key agreement) key.
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(secret));
    const pub = ecdh.getPublicKey();
    const b64u = b => Buffer.from(b).toString('base64url');
    keyPair = await EcdsaMultikey.fromJwk({
      jwk: {
        kty: 'EC', crv: 'P-256', key_ops: ['sign'],
        x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33, 65)),
        d: b64u(secret)
      },
      secretKey: true
    });
  } else {
    throw new Error(`Unsupported cryptosuite "${cryptosuite}"; use one of ` +
      Object.keys(CRYPTOSUITES).join(', '));
  }
  const did = `did:key:${keyPair.publicKeyMultibase}`;
  keyPair.controller = did;
  keyPair.id = `${did}#${keyPair.publicKeyMultibase}`;
  return {keyPair, did};
}

// did:key -> DID document, built from the multibase key alone. The X25519
// keyAgreement key that did:key also derives for Ed25519 is left out: no
// proof here uses it.
function didKeyDocument(did) {
  const publicKeyMultibase = did.slice('did:key:'.length);
  // z6Mk = Ed25519, zDn = P-256, z82 = P-384 (multicodec prefixes, base58)
  if(!/^z(6Mk|Dn|82)[1-9A-HJ-NP-Za-km-z]+$/.test(publicKeyMultibase)) {
    throw new Error(`Unsupported did:key "${did}".`);
  }
  const vmId = `${did}#${publicKeyMultibase}`;
  return {
    '@context': [DID_V1, MULTIKEY_V1],
    id: did,
    verificationMethod: [{
      id: vmId, type: 'Multikey', controller: did, publicKeyMultibase
    }],
    authentication: [vmId],
    assertionMethod: [vmId],
    capabilityDelegation: [vmId],
    capabilityInvocation: [vmId]
  };
}

// The node a DID URL with a fragment names, dereferenced the way DB's
// did:web driver does (helpers.getNode): ids must match the absolute DID URL
// exactly (relative "#key-1" ids are NOT resolved, so DB refuses them and so
// does this harness), and the node carries the context of its suite type
// (the multikey libraries insist on the multikey context).
function verificationMethodFrom(didDocument, url) {
  const nodes = [
    ...[].concat(didDocument.verificationMethod ?? []),
    ...Object.entries(didDocument)
      .filter(([key]) => key !== '@context' && key !== 'verificationMethod')
      .flatMap(([, value]) => [].concat(value))
  ];
  const node = nodes.find(n => n && typeof n === 'object' && n.id === url);
  if(!node) {
    throw new Error(`DID document entity with id "${url}" not found ` +
      '(ids are compared as absolute DID URLs).');
  }
  const context = node.type === 'Multikey' ?
    MULTIKEY_V1 : didDocument['@context'];
  return {'@context': context, ...node};
}

// did:web:host%3Aport:path -> URL of its did.json (DID Web method spec).
function didWebUrl(did) {
  const [host, ...path] = did.slice('did:web:'.length).split(':')
    .map(decodeURIComponent);
  const hostname = host.replace(/:\d+$/, '');
  // plain http only on the loopback (cadena's test nodes); elsewhere https
  const scheme = LOOPBACK_HOSTS.has(hostname) ? 'http' : 'https';
  const suffix = path.length ? `/${path.join('/')}/did.json` :
    '/.well-known/did.json';
  return `${scheme}://${host}${suffix}`;
}

// ----------------------------------------------------------- document loader

function isLoopbackHttp(url) {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname);
  } catch {
    return false;
  }
}

async function fetchLoopback(url) {
  if(!isLoopbackHttp(url)) {
    throw new Error(`Refusing to fetch "${url}": only http:// on the ` +
      'loopback is fetched; pass the document in "documents".');
  }
  let response;
  try {
    response = await fetch(url, {
      headers: {accept: 'application/ld+json, application/json'},
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS)
    });
  } catch(e) {
    throw new Error(`GET ${url} failed: ${e.cause?.message ?? e.message}`);
  }
  if(!response.ok) {
    throw new Error(`GET ${url} answered HTTP ${response.status}.`);
  }
  try {
    return await response.json();
  } catch(e) {
    throw new Error(`GET ${url} did not return JSON: ${e.message}`);
  }
}

export function makeDocumentLoader(documents = {}) {
  if(typeof documents !== 'object' || documents === null) {
    throw new Error('"documents" must be an object mapping URL to JSON.');
  }
  // per-request cache: two status entries may name the same list, and the
  // DID document is asked for once per proof and once per controller check
  const cache = new Map();
  const wrap = (url, document) => ({contextUrl: null, documentUrl: url,
    document: structuredClone(document)});

  async function resolveDid(did) {
    let didDocument;
    if(Object.hasOwn(documents, did)) {
      didDocument = documents[did];
    } else if(did.startsWith('did:key:')) {
      didDocument = didKeyDocument(did);
    } else if(did.startsWith('did:web:')) {
      didDocument = await fetchLoopback(didWebUrl(did));
    } else {
      throw new Error(`Cannot resolve DID "${did}": not in "documents" and ` +
        'not did:key or loopback did:web.');
    }
    // DB's did:web driver refuses a document that is not about the DID
    if(didDocument?.id !== did) {
      throw new Error(`DID document for DID "${did}" not found (its "id" ` +
        `is ${JSON.stringify(didDocument?.id)}).`);
    }
    return didDocument;
  }

  async function load(url) {
    if(Object.hasOwn(documents, url)) {
      return documents[url];
    }
    if(BUNDLED_CONTEXTS.has(url)) {
      return BUNDLED_CONTEXTS.get(url);
    }
    if(Object.hasOwn(LOCAL_CONTEXTS, url)) {
      const file = new URL(LOCAL_CONTEXTS[url], LOCAL_CONTEXT_DIR);
      return JSON.parse(readFileSync(fileURLToPath(file), 'utf8'));
    }
    if(url.startsWith('did:')) {
      const did = url.split('#')[0];
      const didDocument = await resolveDid(did);
      return url.includes('#') ?
        verificationMethodFrom(didDocument, url) : didDocument;
    }
    if(isLoopbackHttp(url)) {
      return fetchLoopback(url);
    }
    throw new Error(`Document loader refused "${url}": not in "documents", ` +
      'not a bundled or cadena context, not did:key, not on the loopback.');
  }

  return async function documentLoader(url) {
    if(!cache.has(url)) {
      // cache the promise so concurrent loads of one URL share a fetch
      const pending = load(url);
      cache.set(url, pending);
      pending.catch(() => cache.delete(url));
    }
    return wrap(url, await cache.get(url));
  };
}

// ------------------------------------------------------------------- results

// Flattens nested library errors (VerificationError.errors, error.cause,
// jsonld safe-mode details) into distinct human-readable strings.
function errorMessages(...roots) {
  const out = new Set();
  const visit = e => {
    if(!e) {
      return;
    }
    if(Array.isArray(e)) {
      e.forEach(visit);
      return;
    }
    if(Array.isArray(e.errors) && e.errors.length > 0) {
      e.errors.forEach(visit);
    } else {
      out.add(describe(e));
    }
    visit(e.cause);
  };
  roots.forEach(visit);
  return [...out];
}

// jsonld's safe mode (used by the cryptosuites) throws a bare "Safe mode
// validation error."; the term it tripped on is in details.event.
function describe(e) {
  const event = e.details?.event;
  if(!event) {
    return String(e.message ?? e);
  }
  const {property, expandedProperty, value} = event.details ?? {};
  const what = property ?? value;
  return `${e.message} ${event.message}` +
    (what === undefined ? '' : ` [${JSON.stringify(what)}` +
      (expandedProperty && expandedProperty !== property ?
        ` -> ${JSON.stringify(expandedProperty)}` : '') + ']');
}

// statusResult of vc-bitstring-status-list -> {statusPurpose: bitIsSet}.
// Its `verified` only says the lists were fetched and checked; a set bit is
// reported here, not as a failed verification.
function statusBits(statusResult) {
  if(!statusResult?.verified || !Array.isArray(statusResult.results)) {
    return null;
  }
  const bits = {};
  for(const {credentialStatus, status} of statusResult.results) {
    const purpose = credentialStatus.statusPurpose;
    bits[purpose] = Boolean(bits[purpose]) || status === true;
  }
  return bits;
}

// vc.verifyCredential insists on a checkStatus function whenever
// credentialStatus is present; this one skips the check when it is not asked.
const skipStatus = async () => ({verified: true, skipped: true});

function statusChecker(checkStatus) {
  return checkStatus ? checkBitstringStatus : skipStatus;
}

function credentialAnswer(result) {
  return {
    verified: result.verified === true,
    errors: errorMessages(
      result.error, result.results?.map(r => r.error),
      result.statusResult?.error),
    statusResult: result.statusResult?.skipped ? null :
      statusBits(result.statusResult)
  };
}

// ----------------------------------------------------------------- operations

function requireObject(request, name) {
  const value = request[name];
  if(!value || typeof value !== 'object') {
    throw new Error(`"${name}" must be a JSON object.`);
  }
  return value;
}

// The credential to verify: "credential", or the one at path "at" in "served", the text of
// a response exactly as a node served it, so that what is verified is what was served and not
// a copy re-encoded on the way here.
function credentialOf(request) {
  if(request.served === undefined) {
    return requireObject(request, 'credential');
  }
  if(typeof request.served !== 'string') {
    throw new Error('"served" must be the JSON text of a response.');
  }
  let value = JSON.parse(request.served);
  for(const step of request.at ?? []) {
    value = value?.[step];
  }
  if(!value || typeof value !== 'object') {
    throw new Error(`No object at ${JSON.stringify(request.at)} in "served".`);
  }
  return value;
}

async function verifyCredential(request) {
  const credential = credentialOf(request);
  const result = await vc.verifyCredential({
    credential,
    suite: VERIFY_SUITES,
    documentLoader: makeDocumentLoader(request.documents),
    checkStatus: statusChecker(request.checkStatus),
    ...(request.now ? {now: request.now} : {})
  });
  return credentialAnswer(result);
}

async function issueCredential(request) {
  const credential = structuredClone(requireObject(request, 'credential'));
  const cryptosuite = request.cryptosuite ?? 'eddsa-rdfc-2022';
  const {keyPair, did} = await didKeyPair({cryptosuite, seed: request.seed});
  if(credential.issuer && typeof credential.issuer === 'object') {
    credential.issuer.id = did;
  } else {
    credential.issuer = did;
  }
  const suite = new DataIntegrityProof({
    signer: keyPair.signer(), cryptosuite: CRYPTOSUITES[cryptosuite]
  });
  const verifiableCredential = await vc.issue({
    credential, suite, documentLoader: makeDocumentLoader(request.documents),
    ...(request.now ? {now: request.now} : {})
  });
  return {verifiableCredential, issuer: did, didDocument: didKeyDocument(did)};
}

async function verifyPresentation(request) {
  const presentation = requireObject(request, 'presentation');
  if(typeof request.challenge !== 'string') {
    throw new Error('"challenge" must be a string.');
  }
  const result = await vc.verify({
    presentation,
    challenge: request.challenge,
    ...(request.domain !== undefined ? {domain: request.domain} : {}),
    suite: VERIFY_SUITES,
    documentLoader: makeDocumentLoader(request.documents),
    checkStatus: statusChecker(request.checkStatus),
    ...(request.now ? {now: request.now} : {})
  });
  return {
    verified: result.verified === true,
    errors: errorMessages(
      result.error, result.presentationResult?.error,
      result.presentationResult?.results?.map(r => r.error),
      result.credentialResults?.flatMap(r =>
        [r.error, r.results?.map(x => x.error), r.statusResult?.error])),
    credentialResults: (result.credentialResults ?? []).map(credentialAnswer)
  };
}

async function issuePresentation(request) {
  const verifiableCredential = requireObject(request, 'credential');
  if(typeof request.challenge !== 'string') {
    throw new Error('"challenge" must be a string.');
  }
  const {keyPair, did} = await didKeyPair(
    {cryptosuite: 'eddsa-rdfc-2022', seed: request.seed});
  const presentation = vc.createPresentation(
    {verifiableCredential, holder: did});
  const suite = new DataIntegrityProof(
    {signer: keyPair.signer(), cryptosuite: eddsaRdfc2022});
  const verifiablePresentation = await vc.signPresentation({
    presentation, suite,
    challenge: request.challenge,
    ...(request.domain !== undefined ? {domain: request.domain} : {}),
    documentLoader: makeDocumentLoader(request.documents)
  });
  return {verifiablePresentation, holder: did};
}

const OPERATIONS = {
  'verify-credential': verifyCredential,
  'issue-credential': issueCredential,
  'verify-presentation': verifyPresentation,
  'issue-presentation': issuePresentation
};

export const handle = dispatcher(OPERATIONS);

runAsProgram(import.meta.url, handle, describe);
