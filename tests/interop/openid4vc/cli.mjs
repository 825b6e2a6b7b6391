#!/usr/bin/env node
/*!
 * A reference holder for the shell: receives credentials from an OpenID4VCI offer link, lists
 * them, and presents one to an OpenID4VP request link, through wallet.mjs's receive-offer and
 * present (so through the same OpenWallet Foundation libraries, and to the loopback only, unless
 * --allow-remote lets them reach https hosts too).
 * The key store is one JSON file, mode 0600:
 *   {"version":1,"holder":{"did","jwk","privateJwk"},
 *    "credentials":[{"configurationId","format","credential","issuer","receivedAt"}]}
 * `node cli.mjs --help` says how to use it.
 */
import {createHash} from 'node:crypto';
import {existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync} from 'node:fs';
import {basename} from 'node:path';
import {parseArgs} from 'node:util';

import {SDJwtVcInstance} from '@sd-jwt/sd-jwt-vc';

import {hash, holderFromPrivateJwk, holderFromSeed} from './keys.mjs';
import {handle as wallet} from './wallet.mjs';

const PROGRAM = basename(process.argv[1] ?? 'cli.mjs');
const DEFAULT_STORE = './cadena-wallet.json';
const STORE_VERSION = 1;
const MESSAGE_LIMIT = 300;

const USAGE = `Usage: node ${PROGRAM} <command> [options]

A reference OpenID4VCI/OpenID4VP holder (wallet.mjs, on the OpenWallet Foundation libraries).

Commands:
  receive '<openid-credential-offer://…>' [--tx-code <code>] [--binding jwk|did:key]
      Receives every configuration the offer names (pre-authorized code flow) into the store;
      one line per credential: short id, format, configuration, issuer. --binding (default
      did:key) applies to the configurations that support it; the others are bound to did:key.
  list
      The credentials held: format, issuer, vct/type, validity, binding, and for SD-JWT VCs
      the claims they can disclose.
  present '<openid4vp://…>' [--disclose <claim>,<claim>…]
      Answers the request with the first held credential its DCQL query matches, disclosing
      only the named top-level claims of an SD-JWT VC (none by default); prints the credential
      presented, the HTTP status of the direct_post and its response body.

Options:
  --store <file>   the key store (default ${DEFAULT_STORE}), created on first receive with a
                   new Ed25519 holder key and written with mode 0600
  --allow-remote   also reach hosts other than the loopback, over https only (for a deployed
                   node, e.g. https://aduana.example); plain http stays on the loopback, and a
                   redirect off the loopback must go to https on a public address
  -h, --help       this text

Like wallet.mjs, it reaches the loopback only (127.0.0.1, localhost, [::1]) unless
--allow-remote is given. On failure it exits 1 with a one-line error (2 for a usage error).`;

const OPTIONS = {
  store: {type: 'string'},
  'tx-code': {type: 'string'},
  binding: {type: 'string'},
  disclose: {type: 'string'},
  'allow-remote': {type: 'boolean'},
  help: {type: 'boolean', short: 'h'}
};
// the options every command takes
const COMMON_OPTIONS = ['store', 'allow-remote'];
const COMMAND_OPTIONS = {
  receive: ['tx-code', 'binding'],
  list: [],
  present: ['disclose']
};

/** A failure told in one line; `code` is the exit code. */
class Failure extends Error {
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}

const usageError = message => new Failure(`${message} (see --help)`, 2);

/** `text` on one line, at most MESSAGE_LIMIT characters. */
function oneLine(text) {
  const line = String(text).replace(/\s+/g, ' ').trim();
  return line.length > MESSAGE_LIMIT ? `${line.slice(0, MESSAGE_LIMIT - 1)}…` : line;
}

// ---------------------------------------------------------------------- store

function loadStore(path) {
  if(!existsSync(path)) {
    return null;
  }
  if(statSync(path).mode & 0o077) {
    process.stderr.write(`${PROGRAM}: warning: ${path} is readable by others; it holds a private key\n`);
  }
  let store;
  try {
    store = JSON.parse(readFileSync(path, 'utf8'));
  } catch(e) {
    throw new Failure(`${path} is not a key store: ${e.message}`);
  }
  if(store?.version !== STORE_VERSION || !Array.isArray(store.credentials)) {
    throw new Failure(`${path} is not a version ${STORE_VERSION} key store`);
  }
  try {
    holderFromPrivateJwk(store.holder?.privateJwk);
  } catch(e) {
    throw new Failure(`${path}: ${e.message}`);
  }
  return store;
}

/** The store at `path`, or a new one with a fresh Ed25519 holder key (not yet written). */
function openStore(path) {
  const store = loadStore(path);
  if(store) {
    return store;
  }
  const holder = holderFromSeed();
  return {
    version: STORE_VERSION,
    holder: {did: holder.did, jwk: holder.publicJwk, privateJwk: holder.privateJwk},
    credentials: []
  };
}

/** Writes the store whole (a new file renamed over the old), mode 0600. */
function saveStore(path, store) {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, JSON.stringify(store, null, 2) + '\n', {mode: 0o600, flag: 'wx'});
    renameSync(temporary, path);
  } catch(e) {
    try {
      unlinkSync(temporary);
    } catch {}
    throw new Failure(`cannot write the key store ${path}: ${e.message}`);
  }
}

// ---------------------------------------------------------------- credentials

/** A short id: the first 8 hex characters of the SHA-256 of the credential as stored. */
function shortId(credential) {
  const text = typeof credential === 'string' ? credential : JSON.stringify(credential);
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

const sdJwt = new SDJwtVcInstance({hasher: hash});

/** What `list` shows of one credential, from its own content (nothing is verified). */
async function describe(held) {
  const {format, credential} = held;
  if(typeof credential === 'string') {
    const decoded = await sdJwt.decode(credential);
    const claims = await sdJwt.getClaims(credential);
    const date = seconds => typeof seconds === 'number' ?
      new Date(seconds * 1000).toISOString().replace('.000Z', 'Z') : '–';
    const now = Date.now() / 1000;
    const state = claims.exp !== undefined && claims.exp <= now ? ' (expired)' :
      claims.nbf !== undefined && claims.nbf > now ? ' (not yet valid)' : '';
    const cnf = decoded.jwt?.payload?.cnf;
    return {
      type: claims.vct ?? '–',
      validity: `iat ${date(claims.iat)}, nbf ${date(claims.nbf)}, exp ${date(claims.exp)}${state}`,
      signer: claims.iss,
      binding: cnf?.jwk ? `jwk (x ${cnf.jwk.x})` : cnf?.kid ?? 'none',
      disclosable: await sdJwt.presentableKeys(credential)
    };
  }
  const from = credential?.validFrom ?? credential?.issuanceDate;
  const until = credential?.validUntil ?? credential?.expirationDate;
  const names = credential?.validFrom || credential?.validUntil ?
    ['validFrom', 'validUntil'] : ['issuanceDate', 'expirationDate'];
  const now = Date.now();
  const state = until && Date.parse(until) <= now ? ' (expired)' :
    from && Date.parse(from) > now ? ' (not yet valid)' : '';
  return {
    type: [].concat(credential?.type ?? []).join(', ') || '–',
    validity: `${names[0]} ${from ?? '–'}, ${names[1]} ${until ?? '–'}${state}`,
    signer: typeof credential?.issuer === 'object' ? credential.issuer?.id : credential?.issuer,
    binding: [].concat(credential?.credentialSubject ?? []).map(s => s?.id).find(Boolean) ?? 'none',
    disclosable: format === 'dc+sd-jwt' ? [] : null
  };
}

/** The names an SD-JWT presentation discloses. */
async function disclosedNames(presentation) {
  const {disclosures} = await sdJwt.decode(presentation);
  return (disclosures ?? []).map(d => d.key).filter(Boolean);
}

// ------------------------------------------------------------------- commands

// What a failed step that made no HTTP exchange was doing.
const STEP_FAILURES = {
  offer: 'cannot read the credential offer', metadata: 'cannot read the issuer metadata',
  request: 'cannot read the presentation request', dcql: 'nothing to present',
  presentation: 'cannot make the presentation'
};

/** "the issuer refused at the token step: HTTP 400 invalid_grant: …" from a wallet.mjs error. */
function refusal(who, {step, status, body, message}) {
  if(status === null) {
    return `${STEP_FAILURES[step] ?? `${step} step failed`}: ${message}`;
  }
  const oauth = body && typeof body === 'object' && body.error ?
    `${body.error}${body.error_description ? `: ${body.error_description}` : ''}` :
    typeof body === 'string' && body !== '' ? body : message;
  return `${who} refused at the ${step} step: HTTP ${status} ${oauth}`;
}

/** Checks the link is a URL carrying one of `parameters`, before any request is made. */
function checkLink(link, what, parameters) {
  let url;
  try {
    url = new URL(link);
  } catch {
    throw new Failure(`bad ${what} link ${JSON.stringify(oneLine(link))}: not a URL`);
  }
  if(!parameters.some(name => url.searchParams.has(name))) {
    throw new Failure(`bad ${what} link: it has no ${parameters.join(' or ')} parameter`);
  }
}

async function receive(link, options, out) {
  checkLink(link, 'credential offer', ['credential_offer', 'credential_offer_uri']);
  const binding = options.binding ?? 'did:key';
  if(!['did:key', 'jwk'].includes(binding)) {
    throw usageError(`--binding ${JSON.stringify(binding)}: use jwk or did:key`);
  }
  const store = openStore(options.store);
  let answer;
  try {
    answer = await wallet({
      op: 'receive-offer', offer: link, txCode: options['tx-code'], binding,
      holderSeed: Buffer.from(store.holder.privateJwk.d, 'base64url').toString('hex'),
      allowRemote: options['allow-remote'] === true
    });
  } catch(e) {
    throw new Failure(e?.message ?? e);
  }
  const receivedAt = new Date().toISOString();
  const received = answer.credentials.map(({configurationId, format, credential}) =>
    ({configurationId, format, credential, issuer: answer.credentialIssuer, receivedAt}));
  if(received.length > 0) {
    store.credentials.push(...received);
    saveStore(options.store, store);
  }
  for(const {configurationId, format, credential, issuer} of received) {
    out(`${shortId(credential)}  ${format}  ${configurationId}  ${issuer}`);
  }
  if(answer.error) {
    const kept = received.length > 0 ? ` (kept the ${received.length} received before it)` : '';
    throw new Failure(refusal('the issuer', answer.error) + kept);
  }
  if(received.length === 0) {
    throw new Failure('the issuer answered with no credential');
  }
}

async function list(options, out) {
  const store = loadStore(options.store);
  if(!store || store.credentials.length === 0) {
    out(`no credentials in ${options.store}`);
    return;
  }
  out(`${store.credentials.length} credential(s) in ${options.store}, holder ${store.holder.did}`);
  for(const held of store.credentials) {
    const about = await describe(held).catch(e => ({error: e.message}));
    out('');
    out(`${shortId(held.credential)}  ${held.format}  ${held.configurationId}  ${held.issuer}`);
    if(about.error) {
      out(`  unreadable:  ${oneLine(about.error)}`);
      continue;
    }
    out(`  type:        ${about.type}`);
    out(`  validity:    ${about.validity}`);
    out(`  signed by:   ${about.signer ?? '–'}`);
    out(`  bound to:    ${about.binding}`);
    if(about.disclosable) {
      out(`  disclosable: ${about.disclosable.join(', ') || '(none)'}`);
    }
    out(`  received:    ${held.receivedAt}`);
  }
}

async function present(link, options, out) {
  checkLink(link, 'presentation request', ['client_id', 'request', 'request_uri']);
  const store = loadStore(options.store);
  if(!store || store.credentials.length === 0) {
    throw new Failure(`no credentials in ${options.store}; receive some first`);
  }
  const disclose = (options.disclose ?? '').split(',').map(name => name.trim()).filter(Boolean);
  let answer;
  try {
    answer = await wallet({
      op: 'present', request: link, credentials: store.credentials, holder: store.holder, disclose,
      allowRemote: options['allow-remote'] === true
    });
  } catch(e) {
    throw new Failure(e?.message ?? e);
  }
  const held = store.credentials[answer.credentialIndex];
  if(held && answer.vpToken) {
    const [queryId, [presentation]] = Object.entries(answer.vpToken)[0];
    let shown = '';
    if(held.format === 'dc+sd-jwt') {
      const names = await disclosedNames(presentation);
      shown = `, disclosing ${names.join(', ') || 'no claim'}`;
      const disclosable = await sdJwt.presentableKeys(held.credential);
      const missing = disclose.filter(name => !disclosable.includes(name));
      if(missing.length > 0) {
        process.stderr.write(`${PROGRAM}: warning: ${shortId(held.credential)} cannot disclose ` +
          `${missing.join(', ')} (it can: ${disclosable.join(', ') || 'nothing'})\n`);
      }
    } else if(disclose.length > 0) {
      process.stderr.write(`${PROGRAM}: warning: --disclose ignored: a ${held.format} is presented whole\n`);
    }
    out(`presented ${shortId(held.credential)} ${held.format} ` +
      `for DCQL query ${JSON.stringify(queryId)}${shown}`);
  }
  // the direct_post's answer, also when the library took it for a failure
  const posted = answer.error ? (answer.error.step === 'response' ? answer.error : null) : answer;
  if(posted && posted.status !== null) {
    out(`HTTP ${posted.status}`);
    out(typeof posted.body === 'string' || posted.body === null ? String(posted.body ?? '') :
      JSON.stringify(posted.body));
  }
  if(answer.error) {
    throw new Failure(refusal('the verifier', answer.error));
  }
  if(answer.status < 200 || answer.status >= 300) {
    throw new Failure(refusal('the verifier', {
      step: 'response', status: answer.status, body: answer.body, message: 'no error given'
    }));
  }
}

// ----------------------------------------------------------------------- main

async function main(argv, out) {
  let parsed;
  try {
    parsed = parseArgs({args: argv, options: OPTIONS, allowPositionals: true, strict: true});
  } catch(e) {
    // node's own message goes on to explain `--`; its first sentence is the problem
    throw usageError(e.message.split(/\.\s/)[0]);
  }
  const {values: options, positionals: [command, ...rest]} = parsed;
  if(options.help) {
    out(USAGE);
    return;
  }
  if(command === undefined) {
    throw usageError('no command given');
  }
  if(!Object.hasOwn(COMMAND_OPTIONS, command)) {
    throw usageError(`unknown command ${JSON.stringify(command)}; use receive, list or present`);
  }
  for(const name of Object.keys(options)) {
    if(!COMMON_OPTIONS.includes(name) && !COMMAND_OPTIONS[command].includes(name)) {
      throw usageError(`--${name} does not apply to ${command}`);
    }
  }
  options.store ??= DEFAULT_STORE;
  const wanted = command === 'list' ? 0 : 1;
  if(rest.length !== wanted) {
    throw usageError(wanted === 0 ? `${command} takes no argument` :
      `${command} takes one link (quote it in the shell), got ${rest.length}`);
  }
  if(command === 'receive') {
    return receive(rest[0], options, out);
  }
  if(command === 'present') {
    return present(rest[0], options, out);
  }
  return list(options, out);
}

main(process.argv.slice(2), line => process.stdout.write(line + '\n')).catch(e => {
  const failure = e instanceof Failure ? e : new Failure(e?.message ?? e);
  process.stderr.write(`${PROGRAM}: ${oneLine(failure.message)}\n`);
  process.exitCode = failure.code;
});
