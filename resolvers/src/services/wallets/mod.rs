//! A firm's wallet and the relying parties it shows its certification to, in the protocols
//! the EU's wallets and most issuers speak: OpenID4VCI 1.0 (the node issues the AEO credential
//! to the firm's wallet, [`issuance`]) and OpenID4VP 1.0 (a VERIFIER account asks a wallet for
//! it and reads the report, [`presentation`]).
//!
//! Errors at the wallet-facing endpoints are OAuth errors (`{"error", "error_description"}`,
//! [`WalletError`]), as wallets expect; the GraphQL side uses [`ServiceError`] as everywhere.

pub mod issuance;
pub mod presentation;

use std::time::Duration;

use crate::errors::ServiceError;

/// How long offers, tokens, nonces and requests live.
#[derive(Clone, Copy, Debug)]
pub struct WalletSettings {
    /// A credential offer, from its creation to its redemption.
    pub offer_ttl: Duration,
    /// An access token from the token endpoint.
    pub token_ttl: Duration,
    /// A nonce from the nonce endpoint.
    pub nonce_ttl: Duration,
    /// A presentation request, from its creation to its answer.
    pub request_ttl: Duration,
    /// Wrong transaction codes tried on an offer before it is void.
    pub max_tx_code_attempts: u64,
}

impl Default for WalletSettings {
    fn default() -> Self {
        WalletSettings {
            offer_ttl: Duration::from_secs(24 * 3600),
            token_ttl: Duration::from_secs(300),
            nonce_ttl: Duration::from_secs(300),
            request_ttl: Duration::from_secs(600),
            max_tx_code_attempts: 5,
        }
    }
}

/// An OAuth-style error at a wallet-facing endpoint (RFC 6749 §5.2, OpenID4VCI 1.0 §8.3.1.2,
/// OpenID4VP 1.0 §8.5).
#[derive(Debug, thiserror::Error)]
#[error("{error}: {description}")]
pub struct WalletError {
    /// The HTTP status.
    pub status: u16,
    /// The registered error code (`invalid_grant`, `invalid_proof`, …).
    pub error: &'static str,
    /// What was wrong, for the wallet's developer.
    pub description: String,
}

impl WalletError {
    /// A 400 with `error` and `description`.
    pub fn bad(error: &'static str, description: impl Into<String>) -> WalletError {
        WalletError { status: 400, error, description: description.into() }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.error, "error_description": self.description })
    }
}

impl From<ServiceError> for WalletError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Internal(source) => {
                tracing::error!(error = %source, "wallet endpoint");
                WalletError { status: 500, error: "server_error", description: "internal error".into() }
            }
            other => WalletError::bad("invalid_request", other.to_string()),
        }
    }
}

impl From<sea_orm::DbErr> for WalletError {
    fn from(error: sea_orm::DbErr) -> Self {
        ServiceError::from(error).into()
    }
}

/// The link of an offer or a request as a QR code, in SVG. Rendered only when asked for:
/// choosing its mask is milliseconds of CPU, more than the rest of an offer.
pub fn qr_svg(link: &str) -> Result<String, ServiceError> {
    let code = qrcode::QrCode::new(link.as_bytes()).map_err(ServiceError::internal)?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(256, 256).build())
}
