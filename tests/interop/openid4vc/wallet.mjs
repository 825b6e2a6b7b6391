#!/usr/bin/env node
/*!
 * An independent AEO firm's wallet and relying-party checker for cadena's OpenID4VCI issuer and
 * OpenID4VP verifier, built on the OpenWallet Foundation's libraries (pinned in package.json):
 * @openid4vc/openid4vci and @openid4vc/openid4vp do the protocol (offer, metadata, token, nonce,
 * proof JWT, credential request; authorization request, response, direct_post), @sd-jwt/sd-jwt-vc
 * presents and verifies SD-JWT VCs, and ../vc.mjs (Digital Bazaar) signs W3C presentations.
 * This file only supplies keys and HTTP (keys.mjs, node:crypto and fetch) and picks what to present.
 *
 * One JSON request on stdin, one JSON answer on stdout (see ../program.mjs and README.md). A step
 * the server refuses is an answer, {"error":{"step","status","body","message"}}, with exit 0; exit
 * 1 means a malformed request. Requests:
 *   {"op":"receive-offer","offer","txCode"?,"configurationIds"?,"holderSeed"?,"binding"?}
 *     → {"holder":{"did","jwk","privateJwk"},"issuerVersion","credentialIssuer",
 *        "credentials":[{"configurationId","format","credential"}],"error"}
 *   {"op":"replay-token","offer","txCode"?} → {"status","body","error"} of a second token request
 *   {"op":"credential-with-proof","offer","txCode"?,"configurationId","proof":"wrong-key"|"reused-nonce"|"no-nonce"}
 *     → {"status","body","error"} of the credential endpoint's answer to that deliberately wrong request
 *   {"op":"verify-sd-jwt-vc","credential","issuerJwk","statusListJwk"?,"requiredClaimKeys"?,"keyBindingNonce"?,"checkStatus"?}
 *     → {"verified","claims","header","keyBinding","status","errors"}
 *   {"op":"present","request":"openid4vp://?…","credentials","holder","disclose"?,"tamper"?:"none"|"disclosure"}
 *     → {"status","body","vpToken","credentialIndex","error"} of the direct_post
 * cli.mjs, a holder for the shell, runs receive-offer and present through `handle`.
 * Every request reaches the loopback only (127.0.0.1, localhost, [::1]; http or https), unless it
 * has "allowRemote": true (cli.mjs --allow-remote): then https reaches any host as well, while
 * plain http stays on the loopback and a redirect off the loopback must go to https on a public
 * address (see guardedFetch).
 */
import {randomBytes} from 'node:crypto';
import {lookup} from 'node:dns/promises';
import {BlockList, isIP} from 'node:net';

import {clientAuthenticationAnonymous} from '@openid4vc/oauth2';
import {Openid4vciClient} from '@openid4vc/openid4vci';
import {Openid4vpClient} from '@openid4vc/openid4vp';
import {setGlobalConfig} from '@openid4vc/utils';
import {SDJwtVcInstance} from '@sd-jwt/sd-jwt-vc';

import {dispatcher, runAsProgram} from '../program.mjs';
import {
  didKeyToJwk, fromB64uJson, hash, holderFromPrivateJwk, holderFromSeed, jsonB64u, signInput,
  signJws, verifyInput, verifyJwtCallback
} from './keys.mjs';

// cadena's test nodes speak plain http on the loopback, which the libraries refuse unless told.
// The switch is global and names no host, so it is guardedFetch below that keeps plain http on
// the loopback, with "allowRemote" too.
setGlobalConfig({allowInsecureUrls: true});

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const FETCH_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// what a redirect that turns the request into a GET drops with the body, as fetch does
const BODY_HEADERS =
  ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location'];
// The holder's JWS alg: Ed25519 keys, named as RFC 8037 names them.
const HOLDER_ALG = 'EdDSA';
const STATUS_LIST_TYPE = 'application/statuslist+jwt';

// ----------------------------------------------------------------------- HTTP

// Where a redirect off the loopback may not lead: loopback, private, link-local, shared (RFC
// 6598), unspecified, benchmarking, multicast and reserved addresses (IPv4-mapped IPv6 included:
// BlockList checks those against the IPv4 ranges).
const INSIDE_ADDRESSES = new BlockList();
for(const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 3]
]) {
  INSIDE_ADDRESSES.addSubnet(network, prefix, 'ipv4');
}
for(const [network, prefix] of [['::', 127], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]]) {
  INSIDE_ADDRESSES.addSubnet(network, prefix, 'ipv6');
}

const isInsideAddress = address =>
  INSIDE_ADDRESSES.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');

/**
 * Why the wallet does not fetch `url`, or null: http(s) on the loopback; with `allowRemote`,
 * https on any host too.
 */
function fetchRefusal(url, allowRemote) {
  if(!['http:', 'https:'].includes(url.protocol)) {
    return 'only http(s) URLs are fetched';
  }
  if(LOOPBACK_HOSTS.has(url.hostname)) {
    return null;
  }
  if(!allowRemote) {
    return 'only the loopback (127.0.0.1, localhost, [::1]) is reached unless "allowRemote" ' +
      '(cli.mjs --allow-remote) is set';
  }
  return url.protocol === 'https:' ? null : 'plain http reaches the loopback only; other hosts need https';
}

/**
 * Why the wallet does not follow a redirect from `from` to `to`, or null. One on the loopback is
 * followed as a first request would be; any other must go to https on an address outside the
 * loopback and private networks, by its literal address or by every address its name resolves
 * to (checked before the request, so a name that resolves differently then is not caught).
 */
export async function redirectRefusal(from, to, allowRemote) {
  const refusal = fetchRefusal(to, allowRemote);
  if(refusal || LOOPBACK_HOSTS.has(from.hostname) && LOOPBACK_HOSTS.has(to.hostname)) {
    return refusal;
  }
  if(to.protocol !== 'https:') {
    return 'a redirect off the loopback must be to https';
  }
  const name = to.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  let addresses = [name];
  if(name === 'localhost' || name.endsWith('.localhost')) {
    addresses = ['127.0.0.1'];
  } else if(!isIP(name)) {
    try {
      addresses = (await lookup(name, {all: true, verbatim: true})).map(({address}) => address);
    } catch(e) {
      return `its name does not resolve (${e.code ?? e.message})`;
    }
  }
  const inside = addresses.find(isInsideAddress);
  return inside ? `it leads to a loopback or private address (${inside})` : null;
}

/** "GET <url>: fetch failed: getaddrinfo ENOTFOUND <host>", not undici's bare "fetch failed". */
function networkError(e, method, url) {
  const cause = e?.cause?.message ?? e?.cause?.code;
  return new Error(`${method} ${url}: ${e?.message ?? e}${cause ? `: ${cause}` : ''}`, {cause: e});
}

/**
 * fetch, confined by fetchRefusal, the redirects followed here (at most MAX_REDIRECTS, each
 * checked by redirectRefusal) as fetch itself would: 303, and 301/302 after a POST, become a GET
 * without the body; Authorization is dropped when the origin changes.
 */
async function guardedFetch(input, init = {}, allowRemote = false) {
  if(input instanceof Request) {
    throw new TypeError('The wallet fetches a URL with its init, not a Request.');
  }
  let url = new URL(String(input));
  const refusal = fetchRefusal(url, allowRemote);
  if(refusal) {
    throw new Error(`Refusing to fetch "${url}": ${refusal}.`);
  }
  const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  let method = (init.method ?? 'GET').toUpperCase();
  let body = init.body;
  const headers = new Headers(init.headers);
  for(let redirects = 0; ; redirects++) {
    let response;
    try {
      response = await fetch(url, {...init, method, headers, body, redirect: 'manual', signal});
    } catch(e) {
      throw networkError(e, method, url);
    }
    const location = response.headers.get('location');
    if(!REDIRECT_STATUSES.has(response.status) || location === null) {
      return response;
    }
    await response.body?.cancel();
    if(redirects === MAX_REDIRECTS) {
      throw new Error(`Refusing to follow more than ${MAX_REDIRECTS} redirects from "${input}".`);
    }
    const next = new URL(location, url);
    const redirectRefused = await redirectRefusal(url, next, allowRemote);
    if(redirectRefused) {
      throw new Error(`Refusing the redirect from "${url}" to "${next}": ${redirectRefused}.`);
    }
    if(response.status === 303 && method !== 'HEAD' ||
      [301, 302].includes(response.status) && method === 'POST') {
      method = 'GET';
      body = undefined;
      for(const name of BODY_HEADERS) {
        headers.delete(name);
      }
    }
    if(next.origin !== url.origin) {
      headers.delete('authorization');
    }
    url = next;
  }
}

/** The request's "allowRemote": true lets the wallet reach https hosts off the loopback. */
function allowRemoteOf(request) {
  if(request.allowRemote !== undefined && typeof request.allowRemote !== 'boolean') {
    throw new Error('"allowRemote" must be true or false.');
  }
  return request.allowRemote === true;
}

/**
 * The fetch every library request goes through: guardedFetch, and the last response kept
 * (a clone), so that whatever a library makes of a refusal, its status and body can be reported;
 * or, when the last fetch was refused or failed, why (the libraries wrap or drop that reason).
 */
function recorder(allowRemote = false) {
  const http = {
    last: null,
    failure: null,
    async fetch(input, init) {
      http.last = null;
      http.failure = null;
      try {
        const response = await guardedFetch(input, init, allowRemote);
        http.last = response.clone();
        return response;
      } catch(e) {
        http.failure = e;
        throw e;
      }
    }
  };
  return http;
}

async function readBody(response) {
  const text = await response.text();
  if(text === '') {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A step of the flow that failed: the answer's "error". */
class StepFailure extends Error {
  constructor(answer) {
    super(answer.message);
    this.answer = answer;
  }
}

/** Runs one named step; a failure becomes a StepFailure carrying the step's HTTP response. */
async function step(http, name, run) {
  http.last = null;
  http.failure = null;
  try {
    return await run();
  } catch(e) {
    const response = http.last;
    throw new StepFailure({
      step: name,
      status: response?.status ?? null,
      body: response ? await readBody(response) : null,
      // a fetch refused or failed says which URL and why, as the library's error may not
      message: String((!response && http.failure ? http.failure : e)?.message ?? e)
    });
  }
}

/**
 * The raw status and body of the one exchange `run` makes, whether the library took it for a
 * success or not: for the deliberately wrong requests, whose answer is the point.
 */
async function exchange(http, name, run) {
  http.last = null;
  http.failure = null;
  let failure;
  try {
    await run();
  } catch(e) {
    failure = e;
  }
  if(!http.last) {
    throw new StepFailure({
      step: name, status: null, body: null,
      message: String((http.failure ?? failure)?.message ?? 'no request made')
    });
  }
  return {status: http.last.status, body: await readBody(http.last), error: null};
}

/** Answers with `fields` plus the failed step, or rethrows what is not a step failure. */
function failed(e, fields) {
  if(e instanceof StepFailure) {
    return {...fields, error: e.answer};
  }
  throw e;
}

// ------------------------------------------------------------------ callbacks

const unsupported = name => () => {
  throw new Error(`${name} is not supported by this wallet.`);
};

/** The callbacks both clients take; JWTs are signed with `signingKey` (a holder from keys.mjs). */
function callbacks(http, signingKey) {
  return {
    fetch: http.fetch,
    hash,
    generateRandom: length => new Uint8Array(randomBytes(length)),
    signJwt: async (signer, {header, payload}) => ({
      jwt: signJws(header, payload, signingKey.privateKey),
      signerJwk: signingKey.publicJwk
    }),
    verifyJwt: verifyJwtCallback,
    // Pre-authorized code flow: the wallet is an anonymous client (no client_id sent).
    clientAuthentication: clientAuthenticationAnonymous(),
    encryptJwe: unsupported('encryptJwe'),
    decryptJwe: unsupported('decryptJwe')
  };
}

// ------------------------------------------------------------------- requests

function requireString(request, name) {
  if(typeof request[name] !== 'string') {
    throw new Error(`"${name}" must be a string.`);
  }
  return request[name];
}

function optionalString(request, name) {
  return request[name] === undefined ? undefined : requireString(request, name);
}

function requireJwk(request, name) {
  const jwk = request[name];
  if(!jwk || typeof jwk !== 'object' || typeof jwk.kty !== 'string') {
    throw new Error(`"${name}" must be a JWK object.`);
  }
  return jwk;
}

function stringArray(request, name) {
  const value = request[name];
  if(value !== undefined && (!Array.isArray(value) || value.some(v => typeof v !== 'string'))) {
    throw new Error(`"${name}" must be an array of strings.`);
  }
  return value;
}

function holderAnswer(holder) {
  return {did: holder.did, jwk: holder.publicJwk, privateJwk: holder.privateJwk};
}

// ----------------------------------------------------------------- OpenID4VCI

/** Resolves the offer and the issuer's metadata (credential issuer and authorization server). */
async function openSession(request, http, client) {
  const offerUri = requireString(request, 'offer');
  const txCode = optionalString(request, 'txCode');
  const offer = await step(http, 'offer', () => client.resolveCredentialOffer(offerUri));
  const issuerMetadata = await step(http, 'metadata',
    () => client.resolveIssuerMetadata(offer.credential_issuer));
  return {offer, issuerMetadata, txCode};
}

/** The pre-authorized code token request: form-encoded, no DPoP, answer must be a Bearer token. */
function tokenRequest(client, {offer, issuerMetadata, txCode}) {
  return client.retrievePreAuthorizedCodeAccessTokenFromOffer(
    {credentialOffer: offer, issuerMetadata, txCode});
}

async function accessToken(http, client, session) {
  const {accessTokenResponse} = await step(http, 'token', () => tokenRequest(client, session));
  return accessTokenResponse.access_token;
}

function nonce(http, client, {issuerMetadata}) {
  return step(http, 'nonce', () => client.requestNonce({issuerMetadata}))
    .then(response => response.c_nonce);
}

/** How the proof names the holder key: `kid` = did:key URL, or the public `jwk` itself. */
function proofSigner(holder, binding = 'did:key') {
  if(binding === 'jwk') {
    return {method: 'jwk', publicJwk: holder.publicJwk, alg: HOLDER_ALG};
  }
  if(binding === 'did:key') {
    return {method: 'did', didUrl: holder.kid, alg: HOLDER_ALG};
  }
  throw new Error(`Unknown binding ${JSON.stringify(binding)}; use "did:key" or "jwk".`);
}

/** The openid4vci-proof+jwt the library makes: aud = credential issuer, iat, nonce; no iss. */
async function proofJwt(http, client, {issuerMetadata}, credentialConfigurationId, signer, cNonce) {
  const {jwt} = await step(http, 'proof', () => client.createCredentialRequestJwtProof(
    {issuerMetadata, credentialConfigurationId, signer, nonce: cNonce}));
  return jwt;
}

/** {"credential_configuration_id", "proofs": {"jwt": [jwt]}} with the Bearer token. */
function credentialRequest(client, {issuerMetadata}, credentialConfigurationId, token, jwt) {
  return client.retrieveCredentials({
    issuerMetadata, credentialConfigurationId, accessToken: token, proofs: {jwt: [jwt]}
  });
}

/**
 * The binding of configuration `id`: from a {"<configurationId>": binding} map, or one binding
 * for every configuration whose cryptographic_binding_methods_supported lists it (or that lists
 * none), did:key for the others.
 */
function bindingFor(binding, id, configuration) {
  if(typeof binding !== 'string') {
    return binding[id];
  }
  const methods = configuration?.cryptographic_binding_methods_supported;
  return !methods || methods.includes(binding) ? binding : 'did:key';
}

function issuedCredentials({credentials, credential}) {
  return credentials ?
    credentials.map(entry => entry?.credential ?? entry) : [credential];
}

async function receiveOffer(request) {
  const holder = holderFromSeed(request.holderSeed);
  const binding = request.binding ?? {};
  if(typeof binding === 'string') {
    proofSigner(holder, binding);
  } else if(typeof binding !== 'object' || Array.isArray(binding)) {
    throw new Error('"binding" must be "did:key", "jwk" or a {"<configurationId>": binding} object.');
  }
  const requested = stringArray(request, 'configurationIds');
  const http = recorder(allowRemoteOf(request));
  const client = new Openid4vciClient({callbacks: callbacks(http, holder)});
  // what was received before a failed step is answered too: the offer's code is spent
  const credentials = [];
  let credentialIssuer = null;
  try {
    const session = await openSession(request, http, client);
    credentialIssuer = session.offer.credential_issuer;
    const offered = session.offer.credential_configuration_ids;
    const ids = requested ?? offered;
    const unknown = ids.filter(id => !offered.includes(id));
    if(unknown.length > 0) {
      throw new Error(`"configurationIds" ${JSON.stringify(unknown)} are not in the offer ` +
        `(it offers ${JSON.stringify(offered)}).`);
    }
    const token = await accessToken(http, client, session);
    for(const id of ids) {
      const configuration = session.issuerMetadata.credentialIssuer.credential_configurations_supported[id];
      const signer = proofSigner(holder, bindingFor(binding, id, configuration));
      const jwt = await proofJwt(http, client, session, id, signer, await nonce(http, client, session));
      const {credentialResponse} = await step(http, 'credential',
        () => credentialRequest(client, session, id, token, jwt));
      const {format} = configuration;
      for(const credential of issuedCredentials(credentialResponse)) {
        credentials.push({configurationId: id, format, credential});
      }
    }
    return {
      holder: holderAnswer(holder), issuerVersion: session.issuerMetadata.originalDraftVersion,
      credentialIssuer, credentials, error: null
    };
  } catch(e) {
    return failed(e, {holder: holderAnswer(holder), issuerVersion: null, credentialIssuer, credentials});
  }
}

async function replayToken(request) {
  const http = recorder(allowRemoteOf(request));
  const client = new Openid4vciClient({callbacks: callbacks(http, holderFromSeed())});
  try {
    const session = await openSession(request, http, client);
    await accessToken(http, client, session);
    return await exchange(http, 'token', () => tokenRequest(client, session));
  } catch(e) {
    return failed(e, {status: null, body: null});
  }
}

async function credentialWithProof(request) {
  const id = requireString(request, 'configurationId');
  const kind = requireString(request, 'proof');
  if(!['wrong-key', 'reused-nonce', 'no-nonce'].includes(kind)) {
    throw new Error(`Unknown "proof" ${JSON.stringify(kind)}; use wrong-key, reused-nonce or no-nonce.`);
  }
  const holder = holderFromSeed();
  const http = recorder(allowRemoteOf(request));
  const client = new Openid4vciClient({callbacks: callbacks(http, holder)});
  const signer = proofSigner(holder);
  try {
    const session = await openSession(request, http, client);
    const token = await accessToken(http, client, session);
    let jwt;
    if(kind === 'wrong-key') {
      // kid names the holder's did:key, but another key signs: a client whose signJwt has that key.
      const stranger = new Openid4vciClient({callbacks: callbacks(http, holderFromSeed())});
      jwt = await proofJwt(http, stranger, session, id, signer, await nonce(http, client, session));
    } else if(kind === 'reused-nonce') {
      // The first use is an ordinary request that must succeed; the second is the one reported.
      const cNonce = await nonce(http, client, session);
      const first = await proofJwt(http, client, session, id, signer, cNonce);
      await step(http, 'credential', () => credentialRequest(client, session, id, token, first));
      jwt = await proofJwt(http, client, session, id, signer, cNonce);
    } else {
      jwt = await proofJwt(http, client, session, id, signer, undefined);
    }
    return await exchange(http, 'credential', () => credentialRequest(client, session, id, token, jwt));
  } catch(e) {
    return failed(e, {status: null, body: null});
  }
}

// ------------------------------------------------------------------ SD-JWT VC

/** Fetches a Token Status List JWT through guardedFetch, as the library's own fetcher would. */
async function fetchStatusList(uri, allowRemote) {
  const response = await guardedFetch(uri, {headers: {accept: STATUS_LIST_TYPE}}, allowRemote);
  if(!response.ok) {
    throw new Error(`GET ${uri} answered HTTP ${response.status}: ${await response.text()}`);
  }
  // the library's default fetcher insists on this media type; so does this one
  if(!response.headers.get('content-type')?.includes(STATUS_LIST_TYPE)) {
    throw new Error(`GET ${uri} answered Content-Type ` +
      `${JSON.stringify(response.headers.get('content-type'))}, not ${STATUS_LIST_TYPE}.`);
  }
  return response.text();
}

/** The holder key an SD-JWT VC is bound to: cnf.jwk, or a did:key in cnf.kid. */
function holderJwkOf(payload) {
  if(payload?.cnf?.jwk) {
    return payload.cnf.jwk;
  }
  if(typeof payload?.cnf?.kid === 'string' && payload.cnf.kid.startsWith('did:key:')) {
    return didKeyToJwk(payload.cnf.kid);
  }
  throw new Error('The SD-JWT VC has no cnf.jwk (or did:key cnf.kid) to check the KB-JWT with.');
}

async function verifySdJwtVc(request) {
  const credential = requireString(request, 'credential');
  const issuerJwk = requireJwk(request, 'issuerJwk');
  const statusListJwk = request.statusListJwk === undefined ?
    issuerJwk : requireJwk(request, 'statusListJwk');
  const requiredClaimKeys = stringArray(request, 'requiredClaimKeys');
  const keyBindingNonce = optionalString(request, 'keyBindingNonce');
  const allowRemote = allowRemoteOf(request);
  let status = null;
  const sdJwtVc = new SDJwtVcInstance({
    hasher: hash,
    verifier: (input, signature) => verifyInput(input, signature, issuerJwk),
    statusVerifier: (input, signature) => verifyInput(input, signature, statusListJwk),
    kbVerifier: (input, signature, payload) => verifyInput(input, signature, holderJwkOf(payload)),
    statusListFetcher: uri => fetchStatusList(uri, allowRemote),
    // report the status value rather than failing on it, as vc.mjs reports a set status bit
    statusValidator: async value => {
      status = value;
    }
  });
  try {
    const result = await sdJwtVc.verify(credential, {
      requiredClaimKeys, keyBindingNonce, disableStatusVerification: request.checkStatus !== true
    });
    return {
      verified: true, claims: result.payload, header: result.header,
      keyBinding: result.kb ?? null, status, errors: []
    };
  } catch(e) {
    return {
      verified: false, claims: null, header: null, keyBinding: null, status,
      errors: [String(e?.message ?? e)]
    };
  }
}

// ----------------------------------------------------------------- OpenID4VP

function sdJwtVct(credential) {
  return fromB64uJson(credential.split('~')[0].split('.')[1]).vct;
}

/** Whether a W3C credential's types include one of DCQL's type_values sets (compact or IRI). */
function typesMatch(credential, typeValues) {
  const types = [].concat(credential?.type ?? []);
  const has = type => types.includes(type) || types.some(t => type.endsWith(`#${t}`) || type.endsWith(`/${t}`));
  return typeValues.some(set => set.every(has));
}

/** The first DCQL credential query a held credential answers, by format and vct/type. */
function matchDcql(query, credentials) {
  for(const credentialQuery of query?.credentials ?? []) {
    for(const held of credentials) {
      if(held.format !== credentialQuery.format) {
        continue;
      }
      const meta = credentialQuery.meta ?? {};
      if(held.format === 'dc+sd-jwt' && meta.vct_values &&
        !meta.vct_values.includes(sdJwtVct(held.credential))) {
        continue;
      }
      if(held.format === 'ldp_vc' && meta.type_values && !typesMatch(held.credential, meta.type_values)) {
        continue;
      }
      return {credentialQuery, held};
    }
  }
  throw new Error(`No held credential answers the DCQL query ${JSON.stringify(query)}.`);
}

/**
 * Changes one character inside the first presented disclosure, after the KB-JWT is made: of the
 * disclosed value when it is text, else of the salt, so the disclosure still decodes and only
 * its digest is wrong.
 */
function tamperDisclosure(presentation) {
  const parts = presentation.split('~');
  if(parts.length < 3 || parts[1] === '') {
    throw new Error('"tamper": "disclosure" needs at least one disclosed claim ("disclose").');
  }
  const disclosure = fromB64uJson(parts[1]);
  const at = typeof disclosure.at(-1) === 'string' && disclosure.at(-1) !== '' ?
    disclosure.length - 1 : 0;
  const text = disclosure[at];
  disclosure[at] = (text[0] === 'X' ? 'Y' : 'X') + text.slice(1);
  parts[1] = jsonB64u(disclosure);
  return parts.join('~');
}

/** dc+sd-jwt: only the chosen disclosures, and a KB-JWT (aud = client_id, nonce, iat, sd_hash). */
async function presentSdJwtVc(held, {holder, clientId, nonce: requestNonce, disclose, tamper}) {
  const sdJwtVc = new SDJwtVcInstance({
    hasher: hash, kbSignAlg: HOLDER_ALG, kbSigner: input => signInput(input, holder.privateKey)
  });
  const frame = Object.fromEntries(disclose.map(name => [name, true]));
  const presented = await sdJwtVc.present(held.credential, frame, {
    kb: {payload: {iat: Math.floor(Date.now() / 1000), aud: clientId, nonce: requestNonce}}
  });
  return tamper === 'disclosure' ? tamperDisclosure(presented) : presented;
}

/** ldp_vc: a VC 2.0 VP with an eddsa-rdfc-2022 authentication proof, made by ../vc.mjs. */
async function presentLdpVc(held, {holder, clientId, nonce: requestNonce}) {
  // imported here, so that the other operations do not need ../node_modules installed
  const {handle: vc} = await import('../vc.mjs');
  const {verifiablePresentation} = await vc({
    op: 'issue-presentation', credential: held.credential, challenge: requestNonce,
    domain: clientId, seed: Buffer.from(holder.privateJwk.d, 'base64url').toString('hex')
  });
  return verifiablePresentation;
}

async function present(request) {
  const requestUri = requireString(request, 'request');
  const holder = holderFromPrivateJwk(request.holder?.privateJwk);
  if(!Array.isArray(request.credentials)) {
    throw new Error('"credentials" must be an array of {format, credential} as receive-offer returns.');
  }
  const disclose = stringArray(request, 'disclose') ?? [];
  const tamper = request.tamper ?? 'none';
  if(!['none', 'disclosure'].includes(tamper)) {
    throw new Error(`Unknown "tamper" ${JSON.stringify(tamper)}; use none or disclosure.`);
  }
  if(tamper === 'disclosure' && disclose.length === 0) {
    throw new Error('"tamper": "disclosure" needs at least one claim in "disclose".');
  }
  const http = recorder(allowRemoteOf(request));
  const client = new Openid4vpClient({callbacks: callbacks(http, holder)});
  let credentialIndex = null;
  try {
    const {authorizationRequestPayload: payload, dcql} = await step(http, 'request', () =>
      client.resolveOpenId4vpAuthorizationRequest({
        authorizationRequestPayload:
          client.parseOpenid4vpAuthorizationRequest({authorizationRequest: requestUri}).params
      }));
    const {credentialQuery, held} = await step(http, 'dcql',
      () => matchDcql(dcql?.query, request.credentials));
    credentialIndex = request.credentials.indexOf(held);
    if(tamper !== 'none' && held.format !== 'dc+sd-jwt') {
      // a Data Integrity VP has no disclosures to tamper with (a plain error: exit 1)
      throw new Error('"tamper" applies to dc+sd-jwt credentials only.');
    }
    // aud (KB-JWT) and domain (Data Integrity) are the client_id exactly as the request has it,
    // prefix included ("redirect_uri:https://…"), as OpenID4VP 1.0 says
    const context = {holder, clientId: payload.client_id, nonce: payload.nonce, disclose, tamper};
    const presentation = await step(http, 'presentation', () => held.format === 'ldp_vc' ?
      presentLdpVc(held, context) : presentSdJwtVc(held, context));
    const vpToken = {[credentialQuery.id]: [presentation]};
    const {authorizationResponsePayload} = await client.createOpenid4vpAuthorizationResponse(
      {authorizationRequestPayload: payload, authorizationResponsePayload: {vp_token: vpToken}});
    const {response} = await step(http, 'response', () => client.submitOpenid4vpAuthorizationResponse(
      {authorizationRequestPayload: payload, authorizationResponsePayload}));
    return {status: response.status, body: await readBody(response), vpToken, credentialIndex, error: null};
  } catch(e) {
    return failed(e, {status: null, body: null, vpToken: null, credentialIndex});
  }
}

export const handle = dispatcher({
  'receive-offer': receiveOffer,
  'replay-token': replayToken,
  'credential-with-proof': credentialWithProof,
  'verify-sd-jwt-vc': verifySdJwtVc,
  present
});

runAsProgram(import.meta.url, handle);
