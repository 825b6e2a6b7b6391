// Self-test of the interop harness (vc.mjs) against itself: run with
// `npm test` (or `node --test selftest.mjs`) in tests/interop.
// Subprocess tests check the stdin/stdout/exit-code contract the Rust tests
// rely on; the rest call `handle` in-process to stay quick.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {createServer} from 'node:http';
import {fileURLToPath} from 'node:url';
import {after, before, describe, test} from 'node:test';

import * as vc from '@digitalbazaar/vc';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {createCredential, createList} from
  '@digitalbazaar/vc-bitstring-status-list';

import {handle, makeDocumentLoader} from './vc.mjs';

const HARNESS = fileURLToPath(new URL('./vc.mjs', import.meta.url));
const ISSUER_SEED = '11'.repeat(32);
const HOLDER_SEED = '22'.repeat(32);
const STATUS_BASE = 'http://127.0.0.1:8701/status-lists';

// The representative AEO credential (issuer is replaced on issuance).
function aeoCredential({statusBase = STATUS_BASE} = {}) {
  return {
    '@context': [
      'https://www.w3.org/ns/credentials/v2', 'https://w3id.org/cadena/aeo/v1'
    ],
    id: 'urn:uuid:0190c2a4-0000-7000-8000-000000000001',
    type: ['VerifiableCredential', 'AEOCertificationCredential'],
    issuer: 'did:key:placeholder',
    validFrom: '2026-01-15T00:00:00Z',
    validUntil: '2099-12-31T23:59:59Z',
    credentialSubject: {
      id: 'urn:cadena:operator:MX:GODE561231GR8',
      type: 'AuthorizedEconomicOperator',
      legalName: 'Exportadora del Pacífico S.A.',
      traderIdentificationNumber: 'GODE561231GR8',
      traderIdentificationScheme: 'MX_RFC',
      certificateNumber: 'OEA-MX-0001',
      certificateType: 'SECURITY_AND_SAFETY',
      issuingCountry: 'MX',
      supplyChainRoles: ['EXPORTER', 'IMPORTER'],
      authorisationDate: '2026-01-15',
      address: {
        type: 'PostalAddress', streetAddress: 'Av. Central 100',
        addressLocality: 'Capital', addressCountry: 'MX'
      }
    },
    credentialStatus: ['revocation', 'suspension'].map(purpose => ({
      id: `${statusBase}/${purpose}-1#42`,
      type: 'BitstringStatusListEntry',
      statusPurpose: purpose,
      statusListIndex: '42',
      statusListCredential: `${statusBase}/${purpose}-1`
    }))
  };
}

// Runs vc.mjs as the Rust tests will: one request on stdin.
function cli(request, {raw} = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HARNESS]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => stdout += d);
    child.stderr.on('data', d => stderr += d);
    child.on('error', reject);
    child.on('close', code => resolve({
      code, stderr, stdout,
      answer: code === 0 ? JSON.parse(stdout) : undefined
    }));
    child.stdin.end(raw ?? JSON.stringify(request));
  });
}

// Changes one character of the subject's legal name.
function tampered(credential) {
  const copy = structuredClone(credential);
  copy.credentialSubject.legalName =
    copy.credentialSubject.legalName.replace('Pacífico', 'Pacifico');
  return copy;
}

// A signed BitstringStatusListCredential (VC 2.0) with the given bits set.
async function statusListCredential({id, statusPurpose, setIndexes = []}) {
  const list = await createList({length: 131072});
  for(const index of setIndexes) {
    list.setStatus(index, true);
  }
  const credential = await createCredential({id, list, statusPurpose});
  credential.validFrom = '2026-01-01T00:00:00Z';
  const {verifiableCredential} = await handle({
    op: 'issue-credential', credential, seed: ISSUER_SEED
  });
  return verifiableCredential;
}

for(const cryptosuite of ['eddsa-rdfc-2022', 'ecdsa-rdfc-2019']) {
  describe(`AEO credential, ${cryptosuite}`, () => {
    let issued;
    before(async () => {
      const {answer, code, stderr} = await cli({
        op: 'issue-credential', credential: aeoCredential(), cryptosuite,
        seed: ISSUER_SEED
      });
      assert.equal(code, 0, stderr);
      issued = answer;
    });

    test('issues with a did:key issuer and a matching proof', () => {
      const {verifiableCredential: vcred, issuer, didDocument} = issued;
      assert.match(issuer, cryptosuite === 'eddsa-rdfc-2022' ?
        /^did:key:z6Mk/ : /^did:key:zDn/);
      assert.equal(vcred.issuer, issuer);
      assert.equal(didDocument.id, issuer);
      assert.equal(vcred.proof.cryptosuite, cryptosuite);
      assert.equal(vcred.proof.verificationMethod,
        didDocument.verificationMethod[0].id);
      assert.deepEqual(didDocument.assertionMethod,
        [didDocument.verificationMethod[0].id]);
    });

    test('the seed makes the key deterministic', async () => {
      const again = await handle({
        op: 'issue-credential', credential: aeoCredential(), cryptosuite,
        seed: ISSUER_SEED
      });
      assert.equal(again.issuer, issued.issuer);
    });

    test('verifies', async () => {
      const {answer, code} = await cli({
        op: 'verify-credential', credential: issued.verifiableCredential,
        checkStatus: false
      });
      assert.equal(code, 0);
      assert.deepEqual(answer,
        {verified: true, errors: [], statusResult: null});
    });

    test('one changed character is refused (exit code still 0)', async () => {
      const {answer, code} = await cli({
        op: 'verify-credential',
        credential: tampered(issued.verifiableCredential), checkStatus: false
      });
      assert.equal(code, 0);
      assert.equal(answer.verified, false);
      assert.ok(answer.errors.some(e => /signature/i.test(e)), answer.errors);
    });

    test('"now" before validFrom is refused', async () => {
      const answer = await handle({
        op: 'verify-credential', credential: issued.verifiableCredential,
        checkStatus: false, now: '2025-12-31T00:00:00Z'
      });
      assert.equal(answer.verified, false);
      assert.ok(answer.errors.some(e => /validFrom/.test(e)), answer.errors);
    });
  });
}

describe('Bitstring status lists (revocation + suspension entries)', () => {
  let credential;
  before(async () => {
    ({verifiableCredential: credential} = await handle({
      op: 'issue-credential', credential: aeoCredential(), seed: ISSUER_SEED
    }));
  });

  async function statusDocuments({revoked = [], suspended = []} = {}) {
    return {
      [`${STATUS_BASE}/revocation-1`]: await statusListCredential({
        id: `${STATUS_BASE}/revocation-1`, statusPurpose: 'revocation',
        setIndexes: revoked
      }),
      [`${STATUS_BASE}/suspension-1`]: await statusListCredential({
        id: `${STATUS_BASE}/suspension-1`, statusPurpose: 'suspension',
        setIndexes: suspended
      })
    };
  }

  const cases = [
    {name: 'no bit set', lists: {revoked: [41, 43], suspended: [0]},
      expected: {revocation: false, suspension: false}},
    {name: 'revoked', lists: {revoked: [42]},
      expected: {revocation: true, suspension: false}},
    {name: 'suspended', lists: {suspended: [42]},
      expected: {revocation: false, suspension: true}},
    {name: 'both', lists: {revoked: [42], suspended: [42]},
      expected: {revocation: true, suspension: true}}
  ];
  for(const {name, lists, expected} of cases) {
    test(name, async () => {
      const {answer, code} = await cli({
        op: 'verify-credential', credential, checkStatus: true,
        documents: await statusDocuments(lists)
      });
      assert.equal(code, 0);
      // a set bit is reported, not turned into a failed verification
      assert.deepEqual(answer,
        {verified: true, errors: [], statusResult: expected});
    });
  }

  test('a status list signed by another issuer is refused', async () => {
    const documents = await statusDocuments();
    const url = `${STATUS_BASE}/suspension-1`;
    const unsigned = structuredClone(documents[url]);
    delete unsigned.proof;
    ({verifiableCredential: documents[url]} = await handle({
      op: 'issue-credential', credential: unsigned, seed: '33'.repeat(32)
    }));
    const answer = await handle({
      op: 'verify-credential', credential, checkStatus: true, documents
    });
    assert.equal(answer.verified, false);
    assert.equal(answer.statusResult, null);
    assert.ok(answer.errors.some(e => /Issuers .* do not match/.test(e)),
      answer.errors);
  });

  test('a tampered status list is refused', async () => {
    const documents = await statusDocuments();
    const url = `${STATUS_BASE}/revocation-1`;
    const other = await statusListCredential(
      {id: url, statusPurpose: 'revocation', setIndexes: [42]});
    documents[url].credentialSubject.encodedList =
      other.credentialSubject.encodedList;
    const answer = await handle({
      op: 'verify-credential', credential, checkStatus: true, documents
    });
    assert.equal(answer.verified, false);
    assert.ok(answer.errors.some(e => /not verified/.test(e)), answer.errors);
  });

  test('an unreachable status list is an error naming its URL', async () => {
    // port 9 (discard) on the loopback: nothing listens there
    const statusBase = 'http://127.0.0.1:9/status-lists';
    const {verifiableCredential} = await handle({
      op: 'issue-credential', credential: aeoCredential({statusBase}),
      seed: ISSUER_SEED
    });
    const answer = await handle({
      op: 'verify-credential', credential: verifiableCredential,
      checkStatus: true
    });
    assert.equal(answer.verified, false);
    assert.ok(answer.errors.some(e => e.includes(`${statusBase}/`)),
      answer.errors);
  });
});

describe('loopback HTTP: did:web issuer and status lists over http', () => {
  let server;
  let base;
  let did;
  const served = new Map();
  before(async () => {
    server = createServer((req, res) => {
      const body = served.get(req.url);
      res.writeHead(body ? 200 : 404, {'content-type': 'application/json'});
      res.end(body ? JSON.stringify(body) : '{}');
    });
    await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
    const {port} = server.address();
    base = `http://127.0.0.1:${port}`;
    did = `did:web:127.0.0.1%3A${port}`;
    const keyPair = await Ed25519Multikey.generate(
      {seed: new Uint8Array(Buffer.from(ISSUER_SEED, 'hex'))});
    keyPair.controller = did;
    keyPair.id = `${did}#key-1`;
    served.set('/.well-known/did.json', {
      '@context': [
        'https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'
      ],
      id: did,
      verificationMethod: [{
        id: `${did}#key-1`, type: 'Multikey', controller: did,
        publicKeyMultibase: keyPair.publicKeyMultibase
      }],
      assertionMethod: [`${did}#key-1`]
    });
    const sign = async credential => vc.issue({
      credential: {...credential, issuer: did},
      suite: new DataIntegrityProof(
        {signer: keyPair.signer(), cryptosuite: eddsaRdfc2022}),
      // signing only needs contexts, which the harness's loader serves
      documentLoader: makeDocumentLoader()
    });
    for(const statusPurpose of ['revocation', 'suspension']) {
      const id = `${base}/status-lists/${statusPurpose}-1`;
      const list = await createList({length: 131072});
      if(statusPurpose === 'suspension') {
        list.setStatus(42, true);
      }
      served.set(new URL(id).pathname, await sign(
        await createCredential({id, list, statusPurpose})));
    }
    served.credential =
      await sign(aeoCredential({statusBase: `${base}/status-lists`}));
  });
  after(() => server.close());

  test('verifies, resolving did:web and the lists over http', async () => {
    const {answer, code} = await cli({
      op: 'verify-credential', credential: served.credential,
      checkStatus: true
    });
    assert.equal(code, 0);
    assert.deepEqual(answer, {verified: true, errors: [],
      statusResult: {revocation: false, suspension: true}});
  });

  // DID Core allows relative ids in DID documents, but DB's verifier
  // compares verification method ids as strings: "#key-1" is refused.
  test('relative verification method ids are refused, as DB does', async () => {
    const absolute = served.get('/.well-known/did.json');
    served.set('/.well-known/did.json', {
      ...absolute,
      verificationMethod: [{...absolute.verificationMethod[0], id: '#key-1'}],
      assertionMethod: ['#key-1']
    });
    try {
      const answer = await handle({
        op: 'verify-credential', credential: served.credential,
        checkStatus: false
      });
      assert.equal(answer.verified, false);
      assert.ok(answer.errors.some(e => e.includes('not found')),
        answer.errors);
    } finally {
      served.set('/.well-known/did.json', absolute);
    }
  });

  test('a DID document whose id is another DID is refused', async () => {
    const {answer} = await cli({
      op: 'verify-credential', credential: served.credential,
      checkStatus: false,
      documents: {[did]: {...served.get('/.well-known/did.json'),
        id: 'did:web:127.0.0.1%3A1'}}
    });
    assert.equal(answer.verified, false);
    assert.ok(answer.errors.some(e => e.includes(did)), answer.errors);
  });
});

describe('presentations', () => {
  let credential;
  let presented;
  before(async () => {
    ({verifiableCredential: credential} = await handle({
      op: 'issue-credential', credential: aeoCredential(), seed: ISSUER_SEED
    }));
    const {answer, code, stderr} = await cli({
      op: 'issue-presentation', credential, challenge: 'c-123',
      domain: 'customs.example', seed: HOLDER_SEED
    });
    assert.equal(code, 0, stderr);
    presented = answer;
  });

  test('issues with a did:key holder and an authentication proof', () => {
    const {verifiablePresentation: vp, holder} = presented;
    assert.match(holder, /^did:key:z6Mk/);
    assert.equal(vp.holder, holder);
    assert.equal(vp.proof.proofPurpose, 'authentication');
    assert.equal(vp.proof.challenge, 'c-123');
    assert.equal(vp.proof.domain, 'customs.example');
  });

  test('verifies with the right challenge and domain', async () => {
    const {answer, code} = await cli({
      op: 'verify-presentation',
      presentation: presented.verifiablePresentation,
      challenge: 'c-123', domain: 'customs.example'
    });
    assert.equal(code, 0);
    assert.equal(answer.verified, true, answer.errors.join('; '));
    assert.deepEqual(answer.errors, []);
  });

  test('a wrong challenge is refused', async () => {
    const answer = await handle({
      op: 'verify-presentation',
      presentation: presented.verifiablePresentation,
      challenge: 'c-999', domain: 'customs.example'
    });
    assert.equal(answer.verified, false);
    assert.ok(answer.errors.some(e => /challenge/.test(e)), answer.errors);
  });

  test('a wrong domain is refused', async () => {
    const answer = await handle({
      op: 'verify-presentation',
      presentation: presented.verifiablePresentation,
      challenge: 'c-123', domain: 'elsewhere.example'
    });
    assert.equal(answer.verified, false);
    assert.ok(answer.errors.some(e => /domain/.test(e)), answer.errors);
  });

  test('a tampered embedded credential is refused', async () => {
    const vp = structuredClone(presented.verifiablePresentation);
    vp.verifiableCredential[0] = tampered(vp.verifiableCredential[0]);
    const answer = await handle({
      op: 'verify-presentation', presentation: vp,
      challenge: 'c-123', domain: 'customs.example'
    });
    assert.equal(answer.verified, false);
    assert.equal(answer.credentialResults[0].verified, false);
  });
});

describe('harness contract', () => {
  test('bad JSON on stdin: exit 1 with a message', async () => {
    const {code, stderr, stdout} = await cli(null, {raw: '{nope'});
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /not one JSON request/);
  });

  test('unknown op: exit 1 with a message', async () => {
    const {code, stderr} = await cli({op: 'frobnicate'});
    assert.equal(code, 1);
    assert.match(stderr, /Unknown "op"/);
  });

  test('no network: an unknown context URL is refused by name', async () => {
    const {verifiableCredential} = await handle({
      op: 'issue-credential', credential: aeoCredential(), seed: ISSUER_SEED
    });
    verifiableCredential['@context'].push('https://example.com/ctx/v1');
    const answer = await handle({
      op: 'verify-credential', credential: verifiableCredential,
      checkStatus: false
    });
    assert.equal(answer.verified, false);
    assert.ok(answer.errors.some(
      e => e.includes('https://example.com/ctx/v1')), answer.errors);
  });

  test('a term the contexts do not define is named (safe mode)', async () => {
    const credential = aeoCredential();
    credential.credentialSubject.riskScore = 3;
    const {code, stderr} = await cli(
      {op: 'issue-credential', credential, seed: ISSUER_SEED});
    assert.equal(code, 1);
    assert.match(stderr, /Safe mode validation error.*"riskScore"/);
    const {verifiableCredential} = await handle({
      op: 'issue-credential', credential: aeoCredential(), seed: ISSUER_SEED
    });
    verifiableCredential.credentialSubject.riskScore = 3;
    const answer = await handle({
      op: 'verify-credential', credential: verifiableCredential,
      checkStatus: false
    });
    assert.equal(answer.verified, false);
    assert.ok(answer.errors.some(e => e.includes('"riskScore"')),
      answer.errors);
  });

  test('did:web off the loopback is not fetched', async () => {
    const {verifiableCredential} = await handle({
      op: 'issue-credential', credential: aeoCredential(), seed: ISSUER_SEED
    });
    verifiableCredential.proof.verificationMethod =
      'did:web:customs.example#key-1';
    const answer = await handle({
      op: 'verify-credential', credential: verifiableCredential,
      checkStatus: false
    });
    assert.equal(answer.verified, false);
    assert.ok(answer.errors.some(e => e.includes(
      'https://customs.example/.well-known/did.json')), answer.errors);
  });
});
