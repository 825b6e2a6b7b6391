/*!
 * The libraries' own server side behind one node:http server on 127.0.0.1:0, for the self-test to
 * run the wallet against: Oauth2AuthorizationServer (token endpoint, pre-authorized code with
 * tx_code, single use), Oauth2ResourceServer (the Bearer token at the credential endpoint),
 * Openid4vciIssuer (metadata, offer, nonce, proof checks, credential response), Openid4vpVerifier
 * (request by value with a redirect_uri: client id, direct_post response), and a Token Status
 * List. What the libraries leave to the server is done here the plain way: nonce bookkeeping,
 * issuing the credentials (@sd-jwt/sd-jwt-vc, and ../vc.mjs for ldp_vc) and checking presentations.
 */
import {generateKeyPairSync, randomBytes, randomUUID} from 'node:crypto';
import {createServer} from 'node:http';
import {deflateSync} from 'node:zlib';

import {
  Oauth2AuthorizationServer, Oauth2ErrorCodes, Oauth2ResourceServer, Oauth2ServerErrorResponseError,
  clientAuthenticationAnonymous, decodeJwt, preAuthorizedCodeGrantIdentifier
} from '@openid4vc/oauth2';
import {Openid4vciIssuer, Openid4vciVersion} from '@openid4vc/openid4vci';
import {Openid4vpVerifier} from '@openid4vc/openid4vp';
import {setGlobalConfig} from '@openid4vc/utils';
import {SDJwtVcInstance} from '@sd-jwt/sd-jwt-vc';

import {b64u, hash, publicJwkOf, signInput, signJws, verifyInput, verifyJwtCallback} from './keys.mjs';

setGlobalConfig({allowInsecureUrls: true});

export const LDP_VC = 'AEOCertification_ldp_vc';
export const SD_JWT_VC = 'AEOCertification_dc+sd-jwt';
export const VCT = 'https://w3id.org/cadena/aeo#AEOCertificationCredential';
export const ISSUER_SEED = '11'.repeat(32);
const VC_V2 = 'https://www.w3.org/ns/credentials/v2';
const AEO_V1 = 'https://w3id.org/cadena/aeo/v1';
const TYPES = ['VerifiableCredential', 'AEOCertificationCredential'];

/** The subject of every AEO credential issued here; which claims are selectively disclosable. */
export const AEO_CLAIMS = {
  legalName: 'Exportadora del Pacífico S.A.',
  traderIdentificationNumber: 'GODE561231GR8',
  certificateNumber: 'OEA-MX-0001',
  issuingCountry: 'MX'
};

const callbacks = signingKey => ({
  hash,
  generateRandom: length => new Uint8Array(randomBytes(length)),
  signJwt: async (signer, {header, payload}) => ({
    jwt: signJws(header, payload, signingKey), signerJwk: publicJwkOf(signingKey)
  }),
  verifyJwt: verifyJwtCallback,
  clientAuthentication: clientAuthenticationAnonymous(),
  fetch
});

/** A Token Status List JWT (1 bit per credential, zlib as the spec says) with `set` indexes on. */
function statusListJwt({uri, set, key}) {
  const bytes = Buffer.alloc(16);
  for(const index of set) {
    bytes[index >> 3] |= 1 << (index & 7);
  }
  return signJws({alg: 'EdDSA', typ: 'statuslist+jwt'}, {
    sub: uri, iat: Math.floor(Date.now() / 1000),
    status_list: {bits: 1, lst: b64u(deflateSync(bytes))}
  }, key);
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, value, type = 'application/json') {
  res.writeHead(status, {'content-type': type});
  res.end(typeof value === 'string' ? value : JSON.stringify(value));
}

const refuse = (error, description, status = 400) =>
  new Oauth2ServerErrorResponseError({error, error_description: description}, {status});

export async function startReferenceServer() {
  const server = createServer();
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  // Digital Bazaar's side (../vc.mjs) issues the ldp_vc and checks its presentation
  const {handle: vcHandle} = await import('../vc.mjs');

  const asKey = generateKeyPairSync('ed25519').privateKey;
  const issuerKey = generateKeyPairSync('ed25519').privateKey;
  const authorizationServer = new Oauth2AuthorizationServer({callbacks: callbacks(asKey)});
  const resourceServer = new Oauth2ResourceServer({callbacks: callbacks(asKey)});
  const issuer = new Openid4vciIssuer({callbacks: callbacks(issuerKey)});
  const verifier = new Openid4vpVerifier({callbacks: callbacks(issuerKey)});

  const proofTypes = {jwt: {proof_signing_alg_values_supported: ['EdDSA']}};
  const credentialIssuer = issuer.createCredentialIssuerMetadata({
    credential_issuer: base,
    credential_endpoint: `${base}/credential`,
    nonce_endpoint: `${base}/nonce`,
    credential_configurations_supported: {
      [LDP_VC]: {
        format: 'ldp_vc',
        credential_definition: {'@context': [VC_V2, AEO_V1], type: TYPES},
        cryptographic_binding_methods_supported: ['did:key'],
        proof_types_supported: proofTypes,
        credential_metadata: {display: [{name: 'AEO certification'}]}
      },
      [SD_JWT_VC]: {
        format: 'dc+sd-jwt',
        vct: VCT,
        cryptographic_binding_methods_supported: ['jwk', 'did:key'],
        credential_signing_alg_values_supported: ['EdDSA'],
        proof_types_supported: proofTypes,
        credential_metadata: {
          display: [{name: 'AEO certification'}],
          claims: Object.keys(AEO_CLAIMS).map(name => ({path: [name]}))
        }
      }
    }
  });
  const asMetadata = authorizationServer.createAuthorizationServerMetadata({
    issuer: base,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/jwks`,
    grant_types_supported: [preAuthorizedCodeGrantIdentifier],
    'pre-authorized_grant_anonymous_access_supported': true
  });
  const issuerMetadata = {
    credentialIssuer, authorizationServers: [asMetadata], originalDraftVersion: Openid4vciVersion.V1,
    knownCredentialConfigurations: issuer.getKnownCredentialConfigurationsSupported(credentialIssuer)
  };

  const state = {
    codes: new Map(), // pre-authorized code -> {txCode, used}
    nonces: new Set(), // c_nonces handed out and not yet used
    presentations: new Map(), // response id -> {request payload, result}
    revoked: new Set([5]),
    proofHeaders: [] // every proof JWT header the credential endpoint accepted
  };
  const statusListUri = `${base}/status/1`;

  const sdJwtVc = new SDJwtVcInstance({
    hasher: hash, saltGenerator: length => b64u(randomBytes(length)),
    signer: input => signInput(input, issuerKey), signAlg: 'EdDSA'
  });

  /** An SD-JWT VC bound to `holderJwk`: the AEO claims selectively disclosable, status index `idx`. */
  async function issueSdJwtVc(holderJwk, idx = 0) {
    return sdJwtVc.issue({
      iss: base, iat: Math.floor(Date.now() / 1000), vct: VCT, cnf: {jwk: holderJwk},
      status: {status_list: {idx, uri: statusListUri}}, ...AEO_CLAIMS
    }, {_sd: Object.keys(AEO_CLAIMS)});
  }

  async function issueLdpVc(holderDid) {
    const {verifiableCredential} = await vcHandle({
      op: 'issue-credential', cryptosuite: 'eddsa-rdfc-2022', seed: ISSUER_SEED,
      credential: {
        '@context': [VC_V2, AEO_V1], type: TYPES, issuer: 'did:key:placeholder',
        validFrom: '2026-01-15T00:00:00Z',
        credentialSubject: {
          ...(holderDid ? {id: holderDid} : {}), type: 'AuthorizedEconomicOperator', ...AEO_CLAIMS
        }
      }
    });
    return verifiableCredential;
  }

  const requestLike = req => ({
    method: req.method, url: `${base}${req.url}`,
    headers: new Headers(Object.entries(req.headers).map(([k, v]) => [k, String(v)]))
  });

  async function token(req) {
    const form = Object.fromEntries(new URLSearchParams(await body(req)));
    const request = requestLike(req);
    const parsed = authorizationServer.parseAccessTokenRequest({accessTokenRequest: form, request});
    const code = state.codes.get(parsed.grant.preAuthorizedCode);
    await authorizationServer.verifyPreAuthorizedCodeAccessTokenRequest({
      ...parsed, request, authorizationServerMetadata: asMetadata,
      expectedPreAuthorizedCode: code ? parsed.grant.preAuthorizedCode : '', expectedTxCode: code?.txCode
    });
    if(code.used) {
      throw refuse(Oauth2ErrorCodes.InvalidGrant, 'The pre-authorized code was already used.');
    }
    code.used = true;
    return authorizationServer.createAccessTokenResponse({
      audience: base, authorizationServer: base, expiresInSeconds: 300,
      subject: parsed.grant.preAuthorizedCode,
      signer: {method: 'jwk', publicJwk: publicJwkOf(asKey), alg: 'EdDSA'}
    });
  }

  async function credential(req) {
    await resourceServer.verifyResourceRequest(
      {request: requestLike(req), resourceServer: base, authorizationServers: [asMetadata]});
    const parsed = issuer.parseCredentialRequest(
      {issuerMetadata, credentialRequest: JSON.parse(await body(req))});
    const [jwt] = parsed.proofs?.jwt ?? [];
    if(!jwt) {
      throw refuse(Oauth2ErrorCodes.InvalidProof, 'A jwt proof is required.');
    }
    // The library checks a nonce it is given; which nonces are live is the issuer's business.
    const {nonce} = decodeJwt({jwt}).payload;
    if(!nonce || !state.nonces.delete(nonce)) {
      throw refuse(Oauth2ErrorCodes.InvalidNonce, 'The proof has no live c_nonce.');
    }
    const {header, signer} = await issuer.verifyCredentialRequestJwtProof(
      {issuerMetadata, jwt, expectedNonce: nonce});
    state.proofHeaders.push(header);
    const holderDid = signer.method === 'did' ? signer.didUrl.split('#')[0] : undefined;
    const issued = parsed.credentialConfigurationId === LDP_VC ?
      await issueLdpVc(holderDid) : await issueSdJwtVc(signer.publicJwk);
    return issuer.createCredentialResponse(
      {credentialRequest: parsed.credentialRequest, credentials: [{credential: issued}]});
  }

  /** What a relying party checks of the one presentation in the vp_token. */
  async function checkPresentation(presentation, request) {
    if(typeof presentation !== 'string') {
      const {verified, errors} = await vcHandle({
        op: 'verify-presentation', presentation, challenge: request.nonce, domain: request.client_id
      });
      return {verified, errors};
    }
    const checker = new SDJwtVcInstance({
      hasher: hash,
      verifier: (input, signature) => verifyInput(input, signature, publicJwkOf(issuerKey)),
      statusVerifier: (input, signature) => verifyInput(input, signature, publicJwkOf(issuerKey)),
      kbVerifier: (input, signature, payload) => verifyInput(input, signature, payload.cnf.jwk)
    });
    try {
      const {payload, kb} = await checker.verify(presentation, {keyBindingNonce: request.nonce});
      if(kb.payload.aud !== request.client_id) {
        return {verified: false, errors: [`KB-JWT aud ${kb.payload.aud} is not the client_id`]};
      }
      return {verified: true, errors: [], disclosed: Object.keys(AEO_CLAIMS).filter(k => k in payload)};
    } catch(e) {
      return {verified: false, errors: [e.message]};
    }
  }

  async function response(req, id) {
    const session = state.presentations.get(id);
    if(!session) {
      throw refuse(Oauth2ErrorCodes.InvalidRequest, 'Unknown response_uri.');
    }
    const parsed = await verifier.parseOpenid4vpAuthorizationResponse({
      authorizationResponse: Object.fromEntries(new URLSearchParams(await body(req))),
      authorizationRequestPayload: session.request
    });
    const presentations = Object.values(parsed.dcql.presentations).flat();
    session.result = await checkPresentation(presentations[0], session.request);
    if(!session.result.verified) {
      throw refuse('invalid_presentation', session.result.errors.join('; '));
    }
    return {verified: true, disclosed: session.result.disclosed ?? null};
  }

  const routes = {
    'GET /.well-known/openid-credential-issuer': async () => credentialIssuer,
    'GET /.well-known/oauth-authorization-server': async () => asMetadata,
    'GET /jwks': async () => ({keys: [publicJwkOf(asKey)]}),
    'POST /token': token,
    'POST /nonce': async () => {
      const cNonce = b64u(randomBytes(16));
      state.nonces.add(cNonce);
      return issuer.createNonceResponse({cNonce});
    },
    'POST /credential': credential
  };

  server.on('request', async (req, res) => {
    const path = req.url.split('?')[0];
    try {
      if(req.method === 'GET' && path === '/status/1') {
        send(res, 200, statusListJwt({uri: statusListUri, set: state.revoked, key: issuerKey}),
          'application/statuslist+jwt');
      } else if(req.method === 'POST' && path.startsWith('/response/')) {
        send(res, 200, await response(req, path.slice('/response/'.length)));
      } else if(routes[`${req.method} ${path}`]) {
        send(res, 200, await routes[`${req.method} ${path}`](req));
      } else {
        send(res, 404, {error: 'not_found'});
      }
    } catch(e) {
      if(e instanceof Oauth2ServerErrorResponseError) {
        send(res, e.status, e.errorResponse);
      } else if(e?.wwwAuthenticateHeaders) {
        send(res, 401, {error: Oauth2ErrorCodes.InvalidToken, error_description: e.message});
      } else {
        send(res, 500, {error: 'server_error', error_description: String(e?.message ?? e)});
      }
    }
  });

  return {
    base, state, statusListUri, issuerJwk: publicJwkOf(issuerKey), issueSdJwtVc,

    /** An openid-credential-offer:// URI for both configurations, with a 6-digit tx_code. */
    async createOffer({txCode = '493536'} = {}) {
      const {credentialOffer, credentialOfferObject} = await issuer.createCredentialOffer({
        issuerMetadata, credentialConfigurationIds: [LDP_VC, SD_JWT_VC],
        grants: {[preAuthorizedCodeGrantIdentifier]: {tx_code: {input_mode: 'numeric', length: 6}}}
      });
      const code = credentialOfferObject.grants[preAuthorizedCodeGrantIdentifier]['pre-authorized_code'];
      state.codes.set(code, {txCode, used: false});
      return credentialOffer;
    },

    /** An unsigned openid4vp:// request by value, asking for one credential of `format`. */
    async createPresentationRequest({format}) {
      const id = randomUUID();
      const responseUri = `${base}/response/${id}`;
      const meta = format === 'dc+sd-jwt' ? {vct_values: [VCT]} : {type_values: [TYPES]};
      const {authorizationRequest, authorizationRequestPayload} =
        await verifier.createOpenId4vpAuthorizationRequest({
          authorizationRequestPayload: {
            response_type: 'vp_token', client_id: `redirect_uri:${responseUri}`,
            response_uri: responseUri, response_mode: 'direct_post',
            nonce: b64u(randomBytes(16)), state: randomUUID(),
            dcql_query: {credentials: [{id: 'aeo', format, meta}]}
          }
        });
      state.presentations.set(id, {request: authorizationRequestPayload, result: null});
      return {request: authorizationRequest, payload: authorizationRequestPayload, id};
    },

    close: () => new Promise(resolve => server.close(resolve))
  };
}
