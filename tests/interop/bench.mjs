// Throughput of the harness in one process: `node bench.mjs [count]`.
// Prints verifications per second for each cryptosuite, with and without
// the status check (two status lists, each itself a signed credential).
import {createCredential, createList} from
  '@digitalbazaar/vc-bitstring-status-list';
import {handle} from './vc.mjs';

const COUNT = Number(process.argv[2] ?? 200);
const SEED = '11'.repeat(32);
const BASE = 'http://127.0.0.1:8701/status-lists';

const credential = {
  '@context': [
    'https://www.w3.org/ns/credentials/v2', 'https://w3id.org/cadena/aeo/v1'
  ],
  type: ['VerifiableCredential', 'AEOCertificationCredential'],
  issuer: 'did:key:placeholder',
  validFrom: '2026-01-15T00:00:00Z',
  credentialSubject: {
    id: 'urn:cadena:operator:MX:GODE561231GR8',
    type: 'AuthorizedEconomicOperator',
    legalName: 'Exportadora del Pacífico S.A.',
    certificateNumber: 'OEA-MX-0001',
    supplyChainRoles: ['EXPORTER', 'IMPORTER'],
    authorisationDate: '2026-01-15'
  },
  credentialStatus: ['revocation', 'suspension'].map(statusPurpose => ({
    id: `${BASE}/${statusPurpose}-1#42`, type: 'BitstringStatusListEntry',
    statusPurpose, statusListIndex: '42',
    statusListCredential: `${BASE}/${statusPurpose}-1`
  }))
};

for(const cryptosuite of ['eddsa-rdfc-2022', 'ecdsa-rdfc-2019']) {
  const issue = async c => (await handle(
    {op: 'issue-credential', credential: c, cryptosuite, seed: SEED}))
    .verifiableCredential;
  const documents = {};
  for(const statusPurpose of ['revocation', 'suspension']) {
    const id = `${BASE}/${statusPurpose}-1`;
    documents[id] = await issue(await createCredential(
      {id, list: await createList({length: 131072}), statusPurpose}));
  }
  const signed = await issue(structuredClone(credential));
  for(const checkStatus of [false, true]) {
    const request = {op: 'verify-credential', credential: signed, checkStatus,
      documents};
    await handle(request); // warm-up: JIT, context caches
    const start = process.hrtime.bigint();
    for(let i = 0; i < COUNT; i++) {
      const {verified} = await handle(request);
      if(!verified) {
        throw new Error('benchmark credential did not verify');
      }
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(`${cryptosuite} checkStatus=${checkStatus}: ${COUNT} in ` +
      `${seconds.toFixed(2)} s = ${(COUNT / seconds).toFixed(1)} verify/s`);
  }
}
