// Self-test of wallet.mjs against the libraries' own issuer and verifier (reference-server.mjs):
// `npm test` here. ../vc.mjs must be installed too (`npm ci` in tests/interop), since the ldp_vc
// path issues and presents through it. Most tests call `handle` in-process; the stdin/stdout ones
// run wallet.mjs as the Rust tests will, to check that contract, and the last ones run cli.mjs
// (the holder for the shell) as a user would, with a store in a temporary directory.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {generateKeyPairSync, randomBytes} from 'node:crypto';
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, before, describe, test} from 'node:test';

import {SDJwtVcInstance} from '@sd-jwt/sd-jwt-vc';

import {handle as vc} from '../vc.mjs';
import {b64u, hash, holderFromSeed, publicJwkOf, signInput} from './keys.mjs';
import {
  AEO_CLAIMS, LDP_VC, SD_JWT_VC, VCT, startReferenceServer
} from './reference-server.mjs';
import {handle} from './wallet.mjs';

const WALLET = fileURLToPath(new URL('./wallet.mjs', import.meta.url));
const HOLDER_CLI = fileURLToPath(new URL('./cli.mjs', import.meta.url));
const HOLDER_SEED = '22'.repeat(32);
const TX_CODE = '493536';

let server;
before(async () => {
  server = await startReferenceServer();
});
after(() => server.close());

const receive = async (extra = {}) => handle(
  {op: 'receive-offer', offer: await server.createOffer(), txCode: TX_CODE, holderSeed: HOLDER_SEED, ...extra});

// The compact SD-JWT's issuer-signed payload (before any disclosure).
const jwtPayload = sdJwt => JSON.parse(Buffer.from(sdJwt.split('.')[1], 'base64url'));

describe('OpenID4VCI: wallet against Openid4vciIssuer', () => {
  test('receives both AEO credentials, bound to the did:key of the seed', async () => {
    const answer = await receive();
    assert.equal(answer.error, null);
    assert.equal(answer.issuerVersion, 'V1');
    assert.equal(answer.credentialIssuer, server.base);
    // the same seed gives Digital Bazaar's did:key: the encodings agree
    const {holder} = await vc({op: 'issue-presentation', credential: [], challenge: 'c', seed: HOLDER_SEED});
    assert.equal(answer.holder.did, holder);
    const byId = Object.fromEntries(answer.credentials.map(c => [c.configurationId, c]));
    assert.deepEqual(Object.keys(byId).sort(), [LDP_VC, SD_JWT_VC].sort());
    assert.equal(byId[LDP_VC].format, 'ldp_vc');
    assert.equal(byId[LDP_VC].credential.credentialSubject.id, holder);
    assert.equal(byId[SD_JWT_VC].format, 'dc+sd-jwt');
    const payload = jwtPayload(byId[SD_JWT_VC].credential);
    assert.equal(payload.vct, VCT);
    assert.deepEqual(payload.cnf.jwk, answer.holder.jwk);
    const header = server.state.proofHeaders.at(-1);
    assert.equal(header.typ, 'openid4vci-proof+jwt');
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.kid, `${holder}#${holder.slice('did:key:'.length)}`);
  });

  test('one binding for all: jwk where a configuration lists it, did:key elsewhere', async () => {
    const answer = await receive({binding: 'jwk'});
    assert.equal(answer.error, null);
    const [ldpHeader, sdJwtHeader] = server.state.proofHeaders.slice(-2);
    assert.equal(ldpHeader.kid.split('#')[0], answer.holder.did);
    assert.deepEqual(sdJwtHeader.jwk, answer.holder.jwk);
    await assert.rejects(receive({binding: 'x509'}), /Unknown binding "x509"/);
  });

  test('jwk binding puts the public key in the proof header', async () => {
    const answer = await receive({configurationIds: [SD_JWT_VC], binding: {[SD_JWT_VC]: 'jwk'}});
    assert.equal(answer.error, null);
    assert.equal(answer.credentials.length, 1);
    const header = server.state.proofHeaders.at(-1);
    assert.deepEqual(header.jwk, answer.holder.jwk);
    assert.equal(header.kid, undefined);
  });

  test('a wrong tx_code is a refusal at the token step, not a failure', async () => {
    const answer = await receive({txCode: '000000'});
    assert.equal(answer.error.step, 'token');
    assert.equal(answer.error.status, 400);
    assert.equal(answer.error.body.error, 'invalid_grant');
    assert.deepEqual(answer.credentials, []);
  });

  test('replay-token reports the second token request on one code', async () => {
    const answer = await handle({op: 'replay-token', offer: await server.createOffer(), txCode: TX_CODE});
    assert.equal(answer.error, null);
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'invalid_grant');
  });

  for(const [proof, error] of [
    ['wrong-key', 'invalid_proof'], ['reused-nonce', 'invalid_nonce'], ['no-nonce', 'invalid_nonce']
  ]) {
    test(`credential-with-proof ${proof} is refused with ${error}`, async () => {
      const answer = await handle({
        op: 'credential-with-proof', offer: await server.createOffer(), txCode: TX_CODE,
        configurationId: SD_JWT_VC, proof
      });
      assert.equal(answer.error, null);
      assert.equal(answer.status, 400);
      assert.equal(answer.body.error, error);
    });
  }
});

describe('verify-sd-jwt-vc against SD-JWT VCs from @sd-jwt/sd-jwt-vc', () => {
  const holder = holderFromSeed(HOLDER_SEED);
  const verify = (credential, extra = {}) => handle(
    {op: 'verify-sd-jwt-vc', credential, issuerJwk: server.issuerJwk, checkStatus: true, ...extra});

  test('an issued credential verifies, with its claims and status 0', async () => {
    const answer = await verify(await server.issueSdJwtVc(holder.publicJwk, 3),
      {requiredClaimKeys: ['legalName', 'vct']});
    assert.deepEqual(answer.errors, []);
    assert.equal(answer.verified, true);
    assert.equal(answer.status, 0);
    assert.equal(answer.claims.legalName, AEO_CLAIMS.legalName);
    assert.equal(answer.header.typ, 'dc+sd-jwt');
  });

  test('a revoked one still verifies and reports status 1', async () => {
    const answer = await verify(await server.issueSdJwtVc(holder.publicJwk, 5));
    assert.equal(answer.verified, true);
    assert.equal(answer.status, 1);
  });

  test('status is not fetched unless asked', async () => {
    const answer = await verify(await server.issueSdJwtVc(holder.publicJwk, 5), {checkStatus: false});
    assert.equal(answer.verified, true);
    assert.equal(answer.status, null);
  });

  test('a changed disclosure, another issuer key or a missing claim fail', async () => {
    const credential = await server.issueSdJwtVc(holder.publicJwk);
    // one character of a disclosed value changed: it still decodes, its digest is unknown
    const parts = credential.split('~');
    const [salt, name, value] = JSON.parse(Buffer.from(parts[1], 'base64url'));
    parts[1] = b64u(JSON.stringify([salt, name, 'X' + value.slice(1)]));
    const tampered = await verify(parts.join('~'));
    assert.equal(tampered.verified, false);
    assert.match(tampered.errors[0], /disclosure/i);
    const otherKey = publicJwkOf(generateKeyPairSync('ed25519').privateKey);
    assert.equal((await verify(credential, {issuerJwk: otherKey})).verified, false);
    assert.equal((await verify(credential, {requiredClaimKeys: ['nickname']})).verified, false);
  });

  test('ES256 issuers verify too', async () => {
    const key = generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey;
    const credential = await new SDJwtVcInstance({
      hasher: hash, saltGenerator: n => b64u(randomBytes(n)),
      signer: input => signInput(input, key), signAlg: 'ES256'
    }).issue({iss: 'https://issuer.example', iat: 1, vct: VCT, legalName: 'X'}, {_sd: ['legalName']});
    const answer = await verify(credential, {issuerJwk: publicJwkOf(key), checkStatus: false});
    assert.deepEqual(answer.errors, []);
    assert.equal(answer.claims.legalName, 'X');
  });

  test('the key binding is checked against the nonce', async () => {
    const presented = await new SDJwtVcInstance({
      hasher: hash, kbSignAlg: 'EdDSA', kbSigner: input => signInput(input, holder.privateKey)
    }).present(await server.issueSdJwtVc(holder.publicJwk), {legalName: true},
      {kb: {payload: {iat: Math.floor(Date.now() / 1000), aud: 'redirect_uri:x', nonce: 'n-1'}}});
    const good = await verify(presented, {keyBindingNonce: 'n-1'});
    assert.deepEqual(good.errors, []);
    assert.equal(good.keyBinding.payload.aud, 'redirect_uri:x');
    assert.deepEqual(Object.keys(good.claims).filter(k => k in AEO_CLAIMS), ['legalName']);
    assert.equal((await verify(presented, {keyBindingNonce: 'n-2'})).verified, false);
  });
});

describe('OpenID4VP: wallet against Openid4vpVerifier', () => {
  let wallet;
  before(async () => {
    wallet = await receive();
  });
  const present = async (format, extra = {}) => {
    const {request, id} = await server.createPresentationRequest({format});
    const answer = await handle({
      op: 'present', request, credentials: wallet.credentials, holder: wallet.holder, ...extra
    });
    return {answer, result: server.state.presentations.get(id).result};
  };

  test('dc+sd-jwt: only the chosen claims are disclosed, with a KB-JWT the verifier accepts', async () => {
    const {answer, result} = await present('dc+sd-jwt', {disclose: ['legalName', 'issuingCountry']});
    assert.equal(answer.error, null);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {verified: true, disclosed: ['legalName', 'issuingCountry']});
    assert.deepEqual(result.errors, []);
    assert.deepEqual(Object.keys(answer.vpToken), ['aeo']);
    assert.equal(wallet.credentials[answer.credentialIndex].format, 'dc+sd-jwt');
  });

  test('dc+sd-jwt: a tampered disclosure is refused', async () => {
    const {answer} = await present('dc+sd-jwt', {disclose: ['legalName'], tamper: 'disclosure'});
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'invalid_presentation');
  });

  test('ldp_vc: a Data Integrity VP with challenge and domain the verifier accepts', async () => {
    const {answer, result} = await present('ldp_vc');
    assert.deepEqual(result.errors, []);
    assert.equal(answer.status, 200);
    const [vp] = answer.vpToken.aeo;
    assert.equal(vp.proof.proofPurpose, 'authentication');
    assert.equal(vp.proof.cryptosuite, 'eddsa-rdfc-2022');
    assert.match(vp.proof.domain, /^redirect_uri:http:\/\/127\.0\.0\.1:\d+\/response\//);
  });
});

// Runs wallet.mjs as the Rust tests will: one request on stdin.
function cli(raw) {
  return run([WALLET], raw);
}

/** Runs node on `args` with `stdin`: {code, stdout, stderr}. */
function run(args, stdin = '', options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, options);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => stdout += d);
    child.stderr.on('data', d => stderr += d);
    child.on('error', reject);
    child.on('close', code => resolve({code, stdout, stderr}));
    child.stdin.end(stdin);
  });
}

describe('stdin/stdout contract', () => {
  test('a refusal by the server is an answer: exit 0', async () => {
    const {code, stdout} = await cli(JSON.stringify(
      {op: 'receive-offer', offer: await server.createOffer(), txCode: '000000'}));
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout).error.step, 'token');
  });

  test('malformed requests exit 1 with the reason on stderr', async () => {
    for(const raw of ['{not json', '{"op":"fly"}', '{"op":"receive-offer"}']) {
      const {code, stdout, stderr} = await cli(raw);
      assert.equal(code, 1, raw);
      assert.equal(stdout, '');
      assert.match(stderr, /wallet\.mjs: /);
    }
  });
});

// Runs cli.mjs as a shell user would, in `cwd`.
const holder = (cwd, ...args) => run([HOLDER_CLI, ...args], '', {cwd});

describe('cli.mjs: the holder for the shell', () => {
  let dir;
  let store;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cadena-wallet-'));
    store = join(dir, 'wallet.json');
  });
  after(() => rmSync(dir, {recursive: true, force: true}));
  const readStore = () => JSON.parse(readFileSync(store, 'utf8'));
  // the one-line error of a failed command
  const failure = ({code, stderr}) => {
    assert.notEqual(code, 0, stderr);
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /^cli\.mjs: /);
    return lines[0];
  };

  test('receive: every offered configuration into a new 0600 store, one line each', async () => {
    const {code, stdout, stderr} = await holder(dir, 'receive', await server.createOffer(),
      '--tx-code', TX_CODE, '--binding', 'jwk', '--store', store);
    assert.equal(code, 0, stderr);
    assert.equal(statSync(store).mode & 0o777, 0o600);
    const saved = readStore();
    assert.match(saved.holder.did, /^did:key:z6Mk/);
    assert.deepEqual(saved.credentials.map(c => c.configurationId), [LDP_VC, SD_JWT_VC]);
    for(const held of saved.credentials) {
      assert.equal(held.issuer, server.base);
      assert.ok(!Number.isNaN(Date.parse(held.receivedAt)));
    }
    const [ldp, sdJwt] = saved.credentials;
    // jwk where the configuration allows it; the ldp_vc one only takes did:key
    assert.deepEqual(jwtPayload(sdJwt.credential).cnf.jwk, saved.holder.jwk);
    assert.equal(ldp.credential.credentialSubject.id, saved.holder.did);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0], new RegExp(`^[0-9a-f]{8}  ldp_vc  ${LDP_VC}  ${server.base}$`));
    assert.match(lines[1], new RegExp(`^[0-9a-f]{8}  dc\\+sd-jwt  .*  ${server.base}$`));
  });

  test('receive again: the same holder key, the credentials added', async () => {
    const before = readStore();
    const {code, stderr} = await holder(dir, 'receive', await server.createOffer(),
      '--tx-code', TX_CODE, '--store', store);
    assert.equal(code, 0, stderr);
    const after = readStore();
    assert.deepEqual(after.holder, before.holder);
    assert.equal(after.credentials.length, 4);
    // did:key by default, for the SD-JWT VC too
    assert.equal(server.state.proofHeaders.at(-1).kid.split('#')[0], before.holder.did);
  });

  test('list: format, issuer, type, validity and what an SD-JWT VC can disclose', async () => {
    const {code, stdout, stderr} = await holder(dir, 'list', '--store', store);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^4 credential\(s\) in .*, holder did:key:z6Mk/);
    assert.match(stdout, /ldp_vc {2}AEOCertification_ldp_vc/);
    assert.match(stdout, /type: +VerifiableCredential, AEOCertificationCredential/);
    assert.match(stdout, /validity: +validFrom 2026-01-15T00:00:00Z, validUntil –/);
    assert.ok(stdout.includes(`type:        ${VCT}`), stdout);
    assert.match(stdout, /validity: +iat \d{4}-\d\d-\d\dT[\d:]+Z, nbf –, exp –/);
    assert.ok(stdout.includes(`disclosable: ${Object.keys(AEO_CLAIMS).sort().join(', ')}`), stdout);
    assert.ok(stdout.includes(server.base));
  });

  test('present: SD-JWT VC with only the named claims, then the Data Integrity VP', async () => {
    const sd = await server.createPresentationRequest({format: 'dc+sd-jwt'});
    const shown = await holder(dir, 'present', sd.request, '--disclose', 'legalName,issuingCountry',
      '--store', store);
    assert.equal(shown.code, 0, shown.stderr);
    const lines = shown.stdout.trimEnd().split('\n');
    assert.match(lines[0],
      /^presented [0-9a-f]{8} dc\+sd-jwt for DCQL query "aeo", disclosing legalName, issuingCountry$/);
    assert.equal(lines[1], 'HTTP 200');
    assert.deepEqual(JSON.parse(lines[2]), {verified: true, disclosed: ['legalName', 'issuingCountry']});
    assert.deepEqual(server.state.presentations.get(sd.id).result.errors, []);

    const ldp = await server.createPresentationRequest({format: 'ldp_vc'});
    const whole = await holder(dir, 'present', ldp.request, '--store', store);
    assert.equal(whole.code, 0, whole.stderr);
    assert.match(whole.stdout, /^presented [0-9a-f]{8} ldp_vc for DCQL query "aeo"\nHTTP 200\n/);
    assert.equal(server.state.presentations.get(ldp.id).result.verified, true);
  });

  test('the store defaults to ./cadena-wallet.json', async () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const empty = await holder(cwd, 'list');
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, 'no credentials in ./cadena-wallet.json\n');
    const {code, stderr} = await holder(cwd, 'receive', await server.createOffer(), '--tx-code', TX_CODE);
    assert.equal(code, 0, stderr);
    assert.equal(statSync(join(cwd, 'cadena-wallet.json')).mode & 0o777, 0o600);
  });

  test('a refusal exits 1 with the OAuth error on one line, and stores nothing', async () => {
    const before = readFileSync(store, 'utf8');
    assert.match(failure(await holder(dir, 'receive', await server.createOffer(), '--tx-code', '000000',
      '--store', store)), /the issuer refused at the token step: HTTP 400 invalid_grant/);
    assert.equal(readFileSync(store, 'utf8'), before);
    // a response_uri the verifier does not know: the direct_post is answered 400
    const {request, id} = await server.createPresentationRequest({format: 'dc+sd-jwt'});
    server.state.presentations.delete(id);
    const refused = await holder(dir, 'present', request, '--store', store);
    assert.match(refused.stdout, /\nHTTP 400\n\{"error":"invalid_request"/);
    assert.match(failure(refused),
      /the verifier refused at the response step: HTTP 400 invalid_request: Unknown response_uri/);
  });

  test('bad links, usage errors and nothing to present name the problem', async () => {
    const emptyOffer = 'openid-credential-offer://?credential_offer=%7B%7D';
    const cases = [
      [['receive', 'not a link'], 1, /bad credential offer link "not a link": not a URL/],
      [['receive', 'https://127.0.0.1/x'], 1, /no credential_offer or credential_offer_uri parameter/],
      [['receive', emptyOffer], 1, /cannot read the credential offer: /],
      [['present', 'openid4vp://?client_id=x', '--store', store], 1,
        /cannot read the presentation request: .*response_uri/],
      [['present', (await server.createPresentationRequest({format: 'ldp_vc'})).request,
        '--store', join(dir, 'none.json')], 1, /no credentials in .*none\.json/],
      [['receive', '--binding', 'x509', emptyOffer], 2, /--binding "x509"/],
      [['list', '--disclose', 'legalName'], 2, /--disclose does not apply to list/],
      [['list', '--bogus'], 2, /Unknown option '--bogus' \(see --help\)$/],
      [['fly'], 2, /unknown command "fly"/],
      [[], 2, /no command given/],
      [['present'], 2, /present takes one link/]
    ];
    const answers = await Promise.all(cases.map(([args]) => holder(dir, ...args)));
    cases.forEach(([args, code, message], i) => {
      assert.equal(answers[i].code, code, `${args}: ${answers[i].stderr}`);
      assert.match(failure(answers[i]), message, args.join(' '));
    });
    // a request the held credentials cannot answer
    const ldpOnly = join(dir, 'ldp-only.json');
    const saved = readStore();
    writeFileSync(ldpOnly, JSON.stringify({...saved, credentials: [saved.credentials[0]]}), {mode: 0o600});
    const {request} = await server.createPresentationRequest({format: 'dc+sd-jwt'});
    assert.match(failure(await holder(dir, 'present', request, '--store', ldpOnly)),
      /nothing to present: No held credential answers the DCQL query/);
  });

  test('--help', async () => {
    const {code, stdout} = await holder(dir, '--help');
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: node cli\.mjs <command>/);
    for(const word of ['receive', 'list', 'present', '--tx-code', '--binding', '--disclose', '--store']) {
      assert.ok(stdout.includes(word), word);
    }
  });
});
