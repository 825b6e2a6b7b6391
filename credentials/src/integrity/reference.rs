//! Signing and verifying credentials with plain ssi calls, without cadena's caches: the
//! reference cadena's own path is tested and benchmarked against.

use std::collections::HashMap;

use did_method_key::DIDKey;
use serde_json::Value;
use ssi_claims::data_integrity::{AnySuite, CryptographicSuite, DataIntegrity, ProofOptions};
use ssi_claims::vc::v2::JsonCredential;
use ssi_claims::{SignatureEnvironment, VerificationParameters};
use ssi_dids_core::resolution::{Error as ResolutionError, Options, Output};
use ssi_dids_core::{DID, DIDResolver, VerificationMethodDIDResolver};
use ssi_json_ld::ContextLoader;
use ssi_verification_methods::{AnyMethod, SingleSecretSigner};

use crate::credential::{AEO_CONTEXT, AEO_CONTEXT_DOCUMENT};
use crate::keys::{Cryptosuite, SecretKey};

/// DID documents given up front (did:web), and ssi's did:key method for the rest.
struct MapResolver {
    documents: HashMap<String, Vec<u8>>,
    did_key: DIDKey,
}

impl DIDResolver for MapResolver {
    async fn resolve_representation<'a>(
        &'a self,
        did: &'a DID,
        options: Options,
    ) -> Result<Output<Vec<u8>>, ResolutionError> {
        match self.documents.get(did.as_str()) {
            Some(document) => Ok(Output::from_content(document.clone(), Some("application/did+json".into()))),
            None => self.did_key.resolve_representation(did, options).await,
        }
    }
}

/// Plain ssi, set up once: the AEO context added to ssi's bundled ones, and the DID documents.
pub struct ReferenceVerifier {
    resolver: VerificationMethodDIDResolver<MapResolver, AnyMethod>,
    loader: ContextLoader,
}

impl std::fmt::Debug for ReferenceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceVerifier").finish_non_exhaustive()
    }
}

impl ReferenceVerifier {
    /// A verifier that resolves the DIDs in `did_documents` to those documents.
    pub fn new(did_documents: &HashMap<String, Value>) -> ReferenceVerifier {
        let documents = did_documents.iter().map(|(did, doc)| (did.clone(), doc.to_string().into_bytes())).collect();
        let resolver = VerificationMethodDIDResolver::new(MapResolver { documents, did_key: DIDKey });
        let loader = ContextLoader::default()
            .with_context_map_from(HashMap::from([(AEO_CONTEXT.to_owned(), AEO_CONTEXT_DOCUMENT.to_owned())]))
            .expect("the shipped AEO context is JSON");
        ReferenceVerifier { resolver, loader }
    }

    /// Signs `unsigned` with ssi's own suite implementation.
    pub async fn sign(&self, unsigned: &Value, key: &SecretKey, verification_method: &str) -> Result<Value, String> {
        let credential: JsonCredential = serde_json::from_value(unsigned.clone()).map_err(|e| e.to_string())?;
        let jwk: ssi_jwk::JWK = serde_json::from_value(key.to_private_jwk()).map_err(|e| e.to_string())?;
        let suite = match key.cryptosuite() {
            Cryptosuite::EdDsaRdfc2022 => AnySuite::EdDsaRdfc2022,
            Cryptosuite::EcdsaRdfc2019 => AnySuite::EcdsaRdfc2019,
        };
        let method = ssi_json_ld::IriBuf::new(verification_method.to_owned()).map_err(|e| e.to_string())?;
        let environment = SignatureEnvironment { json_ld_loader: self.loader.clone(), eip712_loader: () };
        let signed = suite
            .sign_with(
                environment,
                credential,
                &self.resolver,
                SingleSecretSigner::new(jwk).into_local(),
                ProofOptions::from_method(method.into()),
                Default::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        serde_json::to_value(&signed).map_err(|e| e.to_string())
    }

    /// Verifies a signed credential: `Ok(Ok(()))` valid, `Ok(Err(why))` invalid, `Err` when
    /// ssi could not get as far as a verdict.
    pub async fn verify(&self, signed: &Value) -> Result<Result<(), String>, String> {
        let credential: DataIntegrity<JsonCredential, AnySuite> =
            serde_json::from_value(signed.clone()).map_err(|e| e.to_string())?;
        let params = VerificationParameters::from_resolver(&self.resolver).with_json_ld_loader(self.loader.clone());
        credential.verify(&params).await.map(|outcome| outcome.map_err(|e| e.to_string())).map_err(|e| e.to_string())
    }
}
