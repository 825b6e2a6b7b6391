//! The node's outbound HTTP on behalf of a verification: DID documents, status lists and anchor
//! proofs of other nodes. Anyone may ask the node to verify a credential, and a credential names
//! the URLs it would be checked against, so every such request goes through [`GuardedHttp`]:
//!
//! - only `http` and `https`, no proxy;
//! - no private, loopback, link-local or otherwise non-public address, whether the URL names
//!   it or a name resolves to it (the check sits in the DNS resolver, so the address checked
//!   is the address connected to), unless `credentials.allow_private_addresses` says so (the
//!   dev network and tests, where every node is on 127.0.0.1);
//! - redirects only within the origin first asked (a redirect elsewhere is an error), at most 3;
//! - 2 s to connect, 5 s in all, 256 KiB of body.
//!
//! Which URLs are asked at all is the verifier's decision
//! ([`cadena_credentials::verification`]): only those of a trusted issuer, on its own origin.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cadena_credentials::verification::ResolutionError;
use serde_json::Value;

/// Largest body read.
pub const MAX_FETCHED_BYTES: usize = 256 * 1024;
/// Longest a request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Most redirects followed (all within the first origin).
const MAX_REDIRECTS: usize = 3;

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local, shared (CGNAT), unspecified, broadcast, multicast, documentation,
/// benchmarking or reserved, nor an IPv4 address of those forms mapped into IPv6.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64 (64:ff9b::/96) reaches whatever IPv4 address it embeds.
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

/// Resolves names to their public addresses only: a name that resolves to a private or
/// loopback address (`localhost`, an internal host, DNS rebinding) cannot be connected to.
#[derive(Debug)]
struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address (private targets are not allowed)").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP response as [`GuardedHttp::get`] read it.
#[derive(Debug)]
pub struct Fetched {
    /// The status code.
    pub status: u16,
    /// `Cache-Control: max-age`, when given.
    pub max_age: Option<Duration>,
    /// The body (at most [`MAX_FETCHED_BYTES`]).
    pub body: Vec<u8>,
}

/// The outbound HTTP client of verifications (see the module documentation).
#[derive(Clone, Debug)]
pub struct GuardedHttp {
    client: reqwest::Client,
    allow_private: bool,
}

/// An error and its causes in one line (reqwest hides the reason of a refused redirect or a
/// failed resolution in its sources).
fn full_error(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl GuardedHttp {
    /// A client; `allow_private` lets it reach private and loopback addresses.
    pub fn new(allow_private: bool) -> GuardedHttp {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().map(reqwest::Url::origin);
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if first.as_ref() != Some(&attempt.url().origin()) {
                let to = attempt.url().to_string();
                attempt.error(format!("redirect to {to}, off the origin asked: not followed"))
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirects)
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        GuardedHttp { client: builder.build().expect("HTTP client"), allow_private }
    }

    /// Refuses a URL that is not http(s), or names a non-public address when those are not
    /// allowed (names are checked when they resolve).
    fn check_target(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("scheme {} is not http or https", parsed.scheme()));
        }
        // The URL parser normalises every spelling of an address (`2130706433`, `0x7f.1`) to
        // its dotted or bracketed form.
        let host = parsed.host_str().ok_or("no host")?;
        let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        if let Some(ip) = ip
            && !self.allow_private
            && !is_public(ip)
        {
            return Err(format!(
                "{ip} is not a public address (credentials.allow_private_addresses is off): not fetched"
            ));
        }
        Ok(parsed)
    }

    /// GETs `url` with `Accept: accept`, within the limits; any status is an answer.
    pub async fn get(&self, url: &str, accept: &str) -> Result<Fetched, String> {
        let target = self.check_target(url)?;
        let mut response = self.client.get(target).header("accept", accept).send().await.map_err(|e| full_error(&e))?;
        let max_age = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok()))
            .map(Duration::from_secs);
        let status = response.status().as_u16();
        if response.content_length().is_some_and(|n| n > MAX_FETCHED_BYTES as u64) {
            return Err(format!("larger than {MAX_FETCHED_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| full_error(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_FETCHED_BYTES {
                return Err(format!("larger than {MAX_FETCHED_BYTES} bytes"));
            }
        }
        Ok(Fetched { status, max_age, body })
    }
}

/// A cached document: when it was fetched, until when it is fresh, and the document.
type Cached = (Instant, Instant, Arc<Value>);

/// Most documents cached.
const MAX_CACHED_DOCUMENTS: usize = 1024;
/// A cached document is fetched again on demand at most this often.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);

/// JSON documents fetched through [`GuardedHttp`], each cached for its TTL.
#[derive(Debug)]
pub(crate) struct DocumentCache {
    http: GuardedHttp,
    entries: Mutex<HashMap<String, Cached>>,
}

impl DocumentCache {
    pub(crate) fn new(http: GuardedHttp) -> DocumentCache {
        DocumentCache { http, entries: Mutex::new(HashMap::new()) }
    }

    /// Drops `url` from the cache, unless it was fetched moments ago: a stream of proofs naming
    /// keys an issuer does not have must not turn into a stream of requests to that issuer.
    pub(crate) fn forget(&self, url: &str) {
        let mut entries = self.entries.lock().expect("lock");
        if entries.get(url).is_some_and(|(fetched, _, _)| fetched.elapsed() >= MIN_REFETCH_INTERVAL) {
            entries.remove(url);
        }
    }

    /// The document at `url`, from the cache while fresh; `ttl` unless the response says
    /// otherwise with `Cache-Control: max-age`.
    /// The client it fetches with, for what is not cached here.
    pub(crate) fn http(&self) -> &GuardedHttp {
        &self.http
    }

    pub(crate) async fn get(&self, url: &str, ttl: Duration) -> Result<Arc<Value>, ResolutionError> {
        if let Some((_, expires, value)) = self.entries.lock().expect("lock").get(url).cloned()
            && Instant::now() < expires
        {
            return Ok(value);
        }
        let fail = |why: String| ResolutionError(format!("GET {url}: {why}"));
        let fetched = self.http.get(url, "application/json").await.map_err(fail)?;
        if !(200..300).contains(&fetched.status) {
            return Err(fail(format!("HTTP {}", fetched.status)));
        }
        let value: Value =
            cadena_credentials::json::from_slice(&fetched.body).map_err(|e| fail(format!("not JSON: {e}")))?;
        let value = Arc::new(value);
        let max_age = fetched.max_age.unwrap_or(ttl);
        let mut entries = self.entries.lock().expect("lock");
        if entries.len() >= MAX_CACHED_DOCUMENTS {
            entries.retain(|_, (_, expires, _)| Instant::now() < *expires);
        }
        entries.insert(url.to_owned(), (Instant::now(), Instant::now() + max_age, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} is not public");
        }
        for public in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"] {
            assert!(is_public(public.parse().unwrap()), "{public} is public");
        }
    }

    #[tokio::test]
    async fn private_targets_are_refused_before_any_connection() {
        let http = GuardedHttp::new(false);
        for url in ["http://127.0.0.1:9/x", "http://[::1]:9/x", "http://169.254.169.254/latest", "http://localhost:9/"]
        {
            let error = http.get(url, "application/json").await.unwrap_err();
            assert!(error.contains("not a public address") || error.contains("no public address"), "{url}: {error}");
        }
        let error = http.get("file:///etc/passwd", "application/json").await.unwrap_err();
        assert!(error.contains("scheme file"), "{error}");
    }
}
