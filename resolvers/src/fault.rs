//! Fault injection for the crash tests, compiled only into test builds (feature
//! `fault-injection`, which only the gateway's dev-dependencies enable): with
//! `FAULT_INJECTION_SIGKILL_AT=<point>` the process sends itself SIGKILL when it reaches `point`.
//! A real SIGKILL, so nothing is flushed or rolled back: as if the machine lost power there.
//!
//! Points: `formed` (a batch is stored, not sent), `sending` (just before its transaction),
//! `sent` (mined, not yet recorded), `serving-anchor` (a partner is verifying this node's
//! message and asked for its anchor proof).

/// Dies here if the test asked for it; nothing in a build without the feature.
#[cfg(not(feature = "fault-injection"))]
pub fn crash_point(_point: &str) {}

/// Dies here if the test asked for it; nothing in a build without the feature.
#[cfg(feature = "fault-injection")]
pub fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if AT.get_or_init(|| std::env::var("FAULT_INJECTION_SIGKILL_AT").ok()).as_deref() == Some(point) {
        tracing::warn!(point, "fault injection: SIGKILL");
        let _ = std::process::Command::new("kill").args(["-KILL", &std::process::id().to_string()]).status();
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}
