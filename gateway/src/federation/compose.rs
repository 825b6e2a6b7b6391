//! Offline supergraph composition through `gateway/federation/compose.mjs`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::error::{CompositionError, FederationError};

/// The file whose presence tells that `npm ci` has installed the composer.
const COMPOSER_MARKER: &str = "node_modules/@theguild/federation-composition/package.json";
/// Composition of a few subgraphs takes well under a second; this only stops a hung Node.
const COMPOSE_TIMEOUT: Duration = Duration::from_secs(120);

/// One subgraph to compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subgraph {
    /// Its name in the supergraph (`join__Graph`), also the key for URL overrides.
    pub name: String,
    /// Where the gateway sends its fetches (recorded in the supergraph, overridable later).
    pub url: String,
    /// Its Federation v2 SDL (`_service { sdl }`, or `schema/node.graphql` for a node).
    pub sdl: String,
}

/// The npm side of composition: `$CADENA_FEDERATION_DIR` if set (a deployed binary, away from
/// the source tree), else `gateway/federation/` in this source tree.
pub fn federation_dir() -> PathBuf {
    match std::env::var_os("CADENA_FEDERATION_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("federation"),
    }
}

/// Composes `subgraphs` into a supergraph SDL (join v0.3) with [`federation_dir`]'s composer.
///
/// Installs the composer with `npm ci` on first use. Subgraphs that do not compose give
/// [`FederationError::Composition`] with the composer's messages.
#[tracing::instrument(skip_all, fields(subgraphs = subgraphs.len()))]
pub async fn compose(subgraphs: &[Subgraph]) -> Result<String, FederationError> {
    compose_in(&federation_dir(), subgraphs).await
}

/// [`compose`] with the composer in `dir` (which holds `package.json`, `package-lock.json` and
/// `compose.mjs`).
#[tracing::instrument(skip(subgraphs), fields(subgraphs = subgraphs.len()))]
pub async fn compose_in(dir: &Path, subgraphs: &[Subgraph]) -> Result<String, FederationError> {
    let install_dir = dir.to_owned();
    // npm_ci_once blocks (a file lock, then npm itself) and must stay off the async workers.
    tokio::task::spawn_blocking(move || cadena_contracts::anvil::npm_ci_once(&install_dir, COMPOSER_MARKER))
        .await
        .map_err(|e| FederationError::ComposeScript(format!("npm ci task: {e}")))??;

    let input = json!({
        "subgraphs": subgraphs
            .iter()
            .map(|s| json!({ "name": s.name, "url": s.url, "sdl": s.sdl }))
            .collect::<Vec<_>>(),
    });
    let script_error = |message: String| FederationError::ComposeScript(message);
    let mut child = Command::new("node")
        .arg(dir.join("compose.mjs"))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| script_error(format!("starting node: {e}")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_string();
    // Write while the child runs: a large input could otherwise fill the pipe and stall both.
    let writer = async move {
        stdin.write_all(input.as_bytes()).await?;
        stdin.shutdown().await
    };
    let (written, output) =
        tokio::time::timeout(COMPOSE_TIMEOUT, async { tokio::join!(writer, child.wait_with_output()) })
            .await
            .map_err(|_| script_error(format!("no answer after {COMPOSE_TIMEOUT:?}")))?;
    let output = output.map_err(|e| script_error(e.to_string()))?;
    if !output.status.success() {
        return Err(script_error(format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim())));
    }
    written.map_err(|e| script_error(format!("writing its input: {e}")))?;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        supergraph_sdl: Option<String>,
        #[serde(default)]
        errors: Vec<CompositionError>,
    }
    let answer: Answer = serde_json::from_slice(&output.stdout)
        .map_err(|e| script_error(format!("unreadable answer ({e}): {}", String::from_utf8_lossy(&output.stdout))))?;
    match answer.supergraph_sdl {
        Some(sdl) if answer.errors.is_empty() => Ok(sdl),
        _ if !answer.errors.is_empty() => Err(FederationError::Composition(answer.errors)),
        _ => Err(script_error("answer has neither supergraphSdl nor errors".into())),
    }
}
