//! A firm's wallet and a relying party's requests over the standard protocols. The wallet is
//! not cadena's: it is `tests/interop/openid4vc/wallet.mjs`, the npm libraries behind the Credo
//! wallet framework (`@openid4vc/openid4vci`, `@openid4vc/openid4vp`) and `@sd-jwt/sd-jwt-vc`.

use serde_json::{Value, json};

use crate::{TestApp, interop_dir, run_harness};

/// One request to the wallet harness (its packages and the parent harness's, which it reuses
/// for Data Integrity presentations, installed with `npm ci` on first use).
pub async fn openid4vc(request: Value) -> Value {
    openid4vc_installed().await;
    run_harness(interop_dir().join("openid4vc"), OPENID4VC_MARKER, "wallet.mjs", request).await
}

/// Runs the reference holder (`tests/interop/openid4vc/cli.mjs`) with `args` and the store
/// `store`; its exit code, stdout and stderr.
pub async fn holder_cli(store: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    openid4vc_installed().await;
    let dir = interop_dir().join("openid4vc");
    let output = tokio::process::Command::new("node")
        .arg(dir.join("cli.mjs"))
        .args(args)
        .arg("--store")
        .arg(store)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("the holder answers within 60 s")
        .expect("node runs");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

/// The wallet harness's packages, and the parent harness's it reuses, installed.
async fn openid4vc_installed() {
    tokio::task::spawn_blocking(|| {
        cadena_contracts::anvil::npm_ci_once(&interop_dir(), "node_modules/puppeteer-core/package.json")?;
        cadena_contracts::anvil::npm_ci_once(&interop_dir().join("openid4vc"), OPENID4VC_MARKER)
    })
    .await
    .expect("npm ci task")
    .expect("npm ci in tests/interop");
}

/// A file the wallet harness's install has.
const OPENID4VC_MARKER: &str = "node_modules/@openid4vc/openid4vci/package.json";

impl TestApp {
    /// `officer` offers certification `id` to the firm's wallet: `{id, link, txCode, …}`.
    pub async fn offer_to_wallet(&self, officer: &str, id: &str) -> Value {
        let offered = self
            .gql(
                Some(officer),
                "mutation($id: ID!) { offerCredentialToWallet(certificationId: $id) { id link qrSvg txCode expiresAt credentialOffer } }",
                json!({ "id": id }),
            )
            .await;
        offered.data()["offerCredentialToWallet"].clone()
    }

    /// `account` (VERIFIER) asks a wallet for the AEO credential in `format` (`SD_JWT_VC` or
    /// `LDP_VC`) with `claims` disclosed: `{id, link, …}`.
    pub async fn request_presentation(&self, account: &str, format: &str, claims: &[&str]) -> Value {
        let query = format!(
            "mutation($c: [String!]) {{ requestPresentation(format: {format}, claims: $c) {{ id link qrSvg expiresAt request }} }}"
        );
        self.gql(Some(account), &query, json!({ "c": claims })).await.data()["requestPresentation"].clone()
    }

    /// The report of `account`'s request `id` (`recheck`: verified again now).
    pub async fn presentation_result(&self, account: &str, id: &Value, recheck: bool) -> Value {
        let result = self
            .gql(
                Some(account),
                "query($id: ID!, $r: Boolean) { presentationRequest(id: $id, recheck: $r) { id state format answeredAt verified report } }",
                json!({ "id": id, "r": recheck }),
            )
            .await;
        result.data()["presentationRequest"].clone()
    }

    /// The wallet log of certification `id`.
    pub async fn wallet_events(&self, id: &str) -> Vec<Value> {
        let log = self
            .gql(
                Some("risk"),
                "query($id: ID!) { certification(id: $id) { walletEvents { event offerId detail at } } }",
                json!({ "id": id }),
            )
            .await;
        log.data()["certification"]["walletEvents"].as_array().cloned().unwrap_or_default()
    }
}
