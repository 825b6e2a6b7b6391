// Self-test of wallet.mjs against the libraries' own issuer and verifier (reference-server.mjs):
// `npm test` here. ../vc.mjs must be installed too (`npm ci` in tests/interop), since the ldp_vc
// path issues and presents through it. Most tests call `handle` in-process; the stdin/stdout ones
// run wallet.mjs as the Rust tests will, to check that contract, and the last ones run cli.mjs
// (the holder for the shell) as a user would, with a store in a temporary directory. Nothing here
// reaches the network: a remote node's URLs are refused, or fail in DNS, and the tests say which.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {generateKeyPairSync, randomBytes} from 'node:crypto';
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:http';
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
import {handle, redirectRefusal} from './wallet.mjs';

const WALLET = fileURLToPath(new URL('./wallet.mjs', import.meta.url));
const HOLDER_CLI = fileURLToPath(new URL('./cli.mjs', import.meta.url));
const HOLDER_SEED = '22'.repeat(32);
const TX_CODE = '493536';
// A deployed node's address, never reached: no test depends on the network. ".example" names
// resolve nowhere (RFC 2606), so a fetch that is made fails in DNS (or at worst times out).
const REMOTE = 'https://aduana.example';
const remoteOffer = `openid-credential-offer://?credential_offer_uri=${encodeURIComponent(`${REMOTE}/offer/1`)}`;
const remoteRequest = `openid4vp://?client_id=x&request_uri=${encodeURIComponent(`${REMOTE}/request/1`)}`;
const escape = text => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
// the guard's refusal of a URL off the loopback, made before any connection
const refusedOffLoopback = url => new RegExp(`^Refusing to fetch "${escape(url)}": ` +
  escape('only the loopback (127.0.0.1, localhost, [::1]) is reached unless "allowRemote" ' +
    '(cli.mjs --allow-remote) is set.') + '$');
// the failure of a fetch that was made: DNS, a connection, or no answer in time
const fetchFailed = url => new RegExp(`^GET ${escape(url)}: (fetch failed: .*(ENOTFOUND|EAI_AGAIN|EAI_FAIL|` +
  'EAI_NONAME|ECONNREFUSED|ECONNRESET|ENETUNREACH|EHOSTUNREACH|ETIMEDOUT)|.*timeout)');

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

/**
 * Runs `body` with globalThis.fetch (what wallet.mjs calls) watched: {answer, fetched}, every URL
 * a connection was attempted to, redirects included, in order.
 */
async function watchingFetch(body) {
  const real = globalThis.fetch;
  const fetched = [];
  globalThis.fetch = (input, init) => {
    fetched.push(String(input instanceof Request ? input.url : input));
    return real(input, init);
  };
  try {
    return {answer: await body(), fetched};
  } finally {
    globalThis.fetch = real;
  }
}

describe('fetch guard: the loopback only, unless allowRemote lets https reach any host', () => {
  const holder = holderFromSeed(HOLDER_SEED);
  const presentTo = (request, extra = {}) => handle({
    op: 'present', request, credentials: [], holder: {privateJwk: holder.privateJwk}, ...extra
  });
  const remoteStatusCredential = () => {
    const key = generateKeyPairSync('ed25519').privateKey;
    return new SDJwtVcInstance({
      hasher: hash, saltGenerator: n => b64u(randomBytes(n)),
      signer: input => signInput(input, key), signAlg: 'EdDSA'
    }).issue({
      iss: REMOTE, iat: 1, vct: VCT, legalName: 'X',
      status: {status_list: {idx: 0, uri: `${REMOTE}/status/1`}}
    }, {_sd: ['legalName']}).then(credential => ({credential, issuerJwk: publicJwkOf(key)}));
  };

  test('by default an https URL off the loopback is refused before any connection', async () => {
    for(const allowRemote of [undefined, false]) {
      const offer = await watchingFetch(() => handle({op: 'receive-offer', offer: remoteOffer, allowRemote}));
      assert.deepEqual(offer.fetched, []);
      assert.equal(offer.answer.error.step, 'offer');
      assert.equal(offer.answer.error.status, null);
      assert.match(offer.answer.error.message, refusedOffLoopback(`${REMOTE}/offer/1`));

      const request = await watchingFetch(() => presentTo(remoteRequest, {allowRemote}));
      assert.deepEqual(request.fetched, []);
      assert.equal(request.answer.error.step, 'request');
      assert.match(request.answer.error.message, refusedOffLoopback(`${REMOTE}/request/1`));
    }
    const {credential, issuerJwk} = await remoteStatusCredential();
    const status = await watchingFetch(() => handle({op: 'verify-sd-jwt-vc', credential, issuerJwk, checkStatus: true}));
    assert.deepEqual(status.fetched, []);
    assert.equal(status.answer.verified, false);
    assert.match(status.answer.errors[0], refusedOffLoopback(`${REMOTE}/status/1`));
  });

  test('with allowRemote the same URLs are fetched, and fail as the network does', async () => {
    const offer = await watchingFetch(() => handle({op: 'receive-offer', offer: remoteOffer, allowRemote: true}));
    assert.deepEqual(offer.fetched, [`${REMOTE}/offer/1`]);
    assert.equal(offer.answer.error.step, 'offer');
    assert.equal(offer.answer.error.status, null);
    assert.doesNotMatch(offer.answer.error.message, /Refusing/);
    assert.match(offer.answer.error.message, fetchFailed(`${REMOTE}/offer/1`));

    const request = await watchingFetch(() => presentTo(remoteRequest, {allowRemote: true}));
    assert.deepEqual(request.fetched, [`${REMOTE}/request/1`]);
    assert.match(request.answer.error.message, fetchFailed(`${REMOTE}/request/1`));

    const {credential, issuerJwk} = await remoteStatusCredential();
    const status = await watchingFetch(() => handle(
      {op: 'verify-sd-jwt-vc', credential, issuerJwk, checkStatus: true, allowRemote: true}));
    assert.deepEqual(status.fetched, [`${REMOTE}/status/1`]);
    assert.match(status.answer.errors[0], fetchFailed(`${REMOTE}/status/1`));
  });

  test('with allowRemote plain http still reaches the loopback only', async () => {
    const {answer, fetched} = await watchingFetch(() => handle({
      op: 'receive-offer', allowRemote: true,
      offer: `openid-credential-offer://?credential_offer_uri=${encodeURIComponent('http://aduana.example/offer/1')}`
    }));
    assert.deepEqual(fetched, []);
    assert.equal(answer.error.message, 'Refusing to fetch "http://aduana.example/offer/1": ' +
      'plain http reaches the loopback only; other hosts need https.');
    // and the loopback over http works as without it
    const received = await receive({allowRemote: true});
    assert.equal(received.error, null);
    assert.equal(received.credentials.length, 2);
  });

  test('"allowRemote" must be a boolean', async () => {
    await assert.rejects(handle({op: 'receive-offer', offer: remoteOffer, allowRemote: 'yes'}),
      /"allowRemote" must be true or false/);
  });

  describe('redirects', () => {
    // a loopback server answering /to/<name> with a 302 to targets[name], /offer with an offer
    const targets = new Map();
    let redirector;
    let base;
    let offerJson;
    before(async () => {
      redirector = createServer((req, res) => {
        if(req.url === '/offer') {
          res.writeHead(200, {'content-type': 'application/json'}).end(offerJson);
          return;
        }
        const target = targets.get(req.url.slice('/to/'.length));
        res.writeHead(target ? 302 : 404, target ? {location: target} : {}).end();
      });
      await new Promise(resolve => redirector.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${redirector.address().port}`;
      targets.set('offer', `${base}/offer`);
      targets.set('loop', `${base}/to/loop`);
    });
    after(() => redirector.close());
    const offerVia = name => `openid-credential-offer://?credential_offer_uri=${encodeURIComponent(`${base}/to/${name}`)}`;

    test('one on the loopback is followed, without allowRemote too', async () => {
      offerJson = new URL(await server.createOffer()).searchParams.get('credential_offer');
      const {answer, fetched} = await watchingFetch(() => handle(
        {op: 'receive-offer', offer: offerVia('offer'), txCode: TX_CODE, holderSeed: HOLDER_SEED}));
      assert.equal(answer.error, null);
      assert.equal(answer.credentials.length, 2);
      assert.deepEqual(fetched.slice(0, 2), [`${base}/to/offer`, `${base}/offer`]);
    });

    test('to http or to a private address is refused, with allowRemote too', async () => {
      const cases = [
        ['http', 'http://203.0.113.7/offer', false, /only the loopback .* is reached unless "allowRemote"/],
        ['http', 'http://203.0.113.7/offer', true, /plain http reaches the loopback only/],
        ['remote', `${REMOTE}/offer/1`, false, /only the loopback .* is reached unless "allowRemote"/],
        ['private', 'https://10.1.2.3/offer', true, /loopback or private address \(10\.1\.2\.3\)/],
        ['link-local', 'https://169.254.169.254/latest/meta-data/', true, /private address \(169\.254\.169\.254\)/],
        ['mapped', 'https://[::ffff:192.168.1.1]/offer', true, /private address \(::ffff:c0a8:101\)/],
        ['unique-local', 'https://[fd12::1]/offer', true, /private address \(fd12::1\)/]
      ];
      for(const [name, target, allowRemote, reason] of cases) {
        targets.set(name, target);
        const {answer, fetched} = await watchingFetch(() => handle(
          {op: 'receive-offer', offer: offerVia(name), allowRemote}));
        const label = `${target}, allowRemote ${allowRemote}`;
        assert.deepEqual(fetched, [`${base}/to/${name}`], label);
        assert.equal(answer.error.step, 'offer', label);
        assert.equal(answer.error.status, null, label);
        assert.ok(answer.error.message.startsWith(
          `Refusing the redirect from "${base}/to/${name}" to "${new URL(target)}": `), answer.error.message);
        assert.match(answer.error.message, reason, label);
      }
    });

    test('off the loopback, only to https on a public address', async () => {
      const from = new URL(`${REMOTE}/offer/1`);
      for(const [to, reason] of [
        ['http://aduana.example/offer/2', /plain http reaches the loopback only/],
        ['http://127.0.0.1:8080/offer', /a redirect off the loopback must be to https/],
        ['https://127.0.0.1/offer', /loopback or private address \(127\.0\.0\.1\)/],
        ['https://localhost/offer', /loopback or private address/],
        ['https://[::1]/offer', /loopback or private address \(::1\)/],
        ['https://172.20.0.5/offer', /loopback or private address \(172\.20\.0\.5\)/],
        ['https://0.0.0.0/offer', /loopback or private address \(0\.0\.0\.0\)/],
        ['https://203.0.113.7/offer', null],
        ['https://[::ffff:203.0.113.7]/offer', null]
      ]) {
        const refusal = await redirectRefusal(from, new URL(to), true);
        if(reason) {
          assert.match(refusal ?? 'followed', reason, to);
        } else {
          assert.equal(refusal, null, to);
        }
      }
      // and none at all without allowRemote
      assert.match(await redirectRefusal(new URL(`${REMOTE}/a`), new URL('https://203.0.113.7/b'), false),
        /only the loopback/);
    });

    test('no more than 10 are followed', async () => {
      const {answer, fetched} = await watchingFetch(() => handle({op: 'receive-offer', offer: offerVia('loop')}));
      assert.equal(fetched.length, 11);
      assert.match(answer.error.message, /^Refusing to follow more than 10 redirects from /);
    });
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

  test('without "allowRemote" only the loopback is reached: a refusal, exit 0', async () => {
    const {code, stdout} = await cli(JSON.stringify({op: 'receive-offer', offer: remoteOffer}));
    assert.equal(code, 0);
    const {error} = JSON.parse(stdout);
    assert.equal(error.step, 'offer');
    assert.match(error.message, refusedOffLoopback(`${REMOTE}/offer/1`));
  });

  test('malformed requests exit 1 with the reason on stderr', async () => {
    for(const raw of ['{not json', '{"op":"fly"}', '{"op":"receive-offer"}',
      `{"op":"receive-offer","offer":"x","allowRemote":1}`]) {
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

  test('present: SD-JWT VC with only the named claims, then the Data Integrity VP (--allow-remote)', async () => {
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
    // --allow-remote changes nothing on the loopback
    const whole = await holder(dir, 'present', ldp.request, '--store', store, '--allow-remote');
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

  test('a deployed node: refused without --allow-remote, fetched over https with it', async () => {
    const offerFailure = 'cli.mjs: cannot read the credential offer: ';
    const requestFailure = 'cli.mjs: cannot read the presentation request: ';
    const refused = failure(await holder(dir, 'receive', remoteOffer, '--store', join(dir, 'remote.json')));
    assert.ok(refused.startsWith(offerFailure), refused);
    assert.match(refused.slice(offerFailure.length), refusedOffLoopback(`${REMOTE}/offer/1`));
    const attempted = failure(await holder(dir, 'receive', remoteOffer, '--allow-remote',
      '--store', join(dir, 'remote.json')));
    assert.doesNotMatch(attempted, /Refusing/);
    assert.ok(attempted.startsWith(offerFailure), attempted);
    assert.match(attempted.slice(offerFailure.length), fetchFailed(`${REMOTE}/offer/1`));
    // nothing received, nothing stored
    assert.throws(() => statSync(join(dir, 'remote.json')), {code: 'ENOENT'});

    const unasked = failure(await holder(dir, 'present', remoteRequest, '--store', store));
    assert.ok(unasked.startsWith(requestFailure), unasked);
    assert.match(unasked.slice(requestFailure.length), refusedOffLoopback(`${REMOTE}/request/1`));
    const presented = failure(await holder(dir, 'present', remoteRequest, '--allow-remote', '--store', store));
    assert.ok(presented.startsWith(requestFailure), presented);
    assert.match(presented.slice(requestFailure.length), fetchFailed(`${REMOTE}/request/1`));
    // plain http stays on the loopback
    const http = `openid-credential-offer://?credential_offer_uri=${encodeURIComponent('http://aduana.example/offer/1')}`;
    assert.match(failure(await holder(dir, 'receive', http, '--allow-remote', '--store', store)),
      /Refusing to fetch "http:\/\/aduana\.example\/offer\/1": plain http reaches the loopback only/);
    // list takes it too (and has nothing to fetch)
    const listed = await holder(dir, 'list', '--allow-remote', '--store', store);
    assert.equal(listed.code, 0, listed.stderr);
  });

  test('--help', async () => {
    const {code, stdout} = await holder(dir, '--help');
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: node cli\.mjs <command>/);
    for(const word of ['receive', 'list', 'present', '--tx-code', '--binding', '--disclose', '--store',
      '--allow-remote']) {
      assert.ok(stdout.includes(word), word);
    }
  });
});
