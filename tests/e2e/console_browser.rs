//! The officer console in a real browser (Debian's Chromium over CDP, no internet access:
//! every request to another origin is aborted and reported): every page checked by axe-core in
//! Spanish and English, with screenshots, and the seed's flow across three customs nodes.

use cadena_tests::{PASSWORD, TestApp, TestChain, in_browser};
use serde_json::{Value, json};

/// Where the browser tests leave their screenshots (listed in the README).
pub const SCREENSHOTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/console-screenshots");

const TIN: &str = "GODE561231GR8";

/// The serious and critical violations axe-core found in `violations`.
fn serious(violations: &Value) -> Vec<&Value> {
    violations.as_array().unwrap().iter().filter(|v| v["impact"] == "serious" || v["impact"] == "critical").collect()
}

/// Opens the login page, then `paths` as `username`, in both languages; asserts each answered 200 in its language,
/// with no serious or critical accessibility violation, a screenshot, and no request elsewhere.
/// Returns the pages' titles.
async fn every_page_in_both_languages(app: &TestApp, username: &str, paths: Value) -> Vec<String> {
    // The login page first, then every path; each in two languages.
    let expected = (paths.as_array().unwrap().len() + 1) * 2;
    let report = in_browser(json!({
        "op": "console", "url": app.base, "username": username, "password": PASSWORD,
        "paths": paths, "screenshots": SCREENSHOTS,
    }))
    .await;
    assert_eq!(report["errors"], json!([]), "{report}");
    assert_eq!(report["outside"], json!([]), "no request left the node's origin: {report}");
    let pages = report["pages"].as_array().unwrap();
    assert_eq!(pages.len(), expected, "every page, two languages: {report}");
    for page in pages {
        assert_eq!(page["status"], 200, "{page}");
        assert_eq!(page["htmlLang"], page["lang"], "{page}");
        let serious = serious(&page["violations"]);
        assert!(serious.is_empty(), "axe-core on {} ({}): {serious:?}", page["path"], page["lang"]);
        let screenshot = std::path::Path::new(SCREENSHOTS).join(page["screenshot"].as_str().unwrap());
        assert!(std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 0), "{}", screenshot.display());
    }
    pages.iter().map(|p| p["title"].as_str().unwrap().to_owned()).collect()
}

/// Every console page, in Spanish and English, as the officers who use each: axe-core finds no
/// serious or critical violation, and the browser asks nothing of any other origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser() {
    let app = TestApp::builder().spawn().await;
    let id = app.granted("OEA-MX-C0003", TIN).await;
    app.submit(app.certification_input("OEA-MX-C0004", TIN)).await.data();
    std::fs::create_dir_all(SCREENSHOTS).unwrap();
    let approver = json!([
        { "path": "/console", "name": "certifications" },
        { "path": format!("/console/certifications/{id}"), "name": "certification" },
        { "path": "/console/queue", "name": "queue" },
        { "path": "/console/partners", "name": "partners" },
        { "path": format!("/console/recognition?country=MX&tin={TIN}"), "name": "recognition" },
        { "path": "/console/verify", "name": "verify" },
    ]);
    let titles = every_page_in_both_languages(&app, "approver", approver).await;
    assert!(titles.contains(&"Certificaciones OEA · Consola aduanera · Customs of Mexico".to_owned()), "{titles:?}");
    assert!(titles.contains(&"AEO certifications · Customs console · Customs of Mexico".to_owned()), "{titles:?}");
    let registrar = json!([
        { "path": "/console/submit", "name": "submit" },
        { "path": "/console/submissions", "name": "submissions" },
        { "path": format!("/console/certifications/{id}/amend"), "name": "amend" },
    ]);
    every_page_in_both_languages(&app, "registrar", registrar).await;
    let admin = json!([{ "path": "/console/admin", "name": "admin" }]);
    every_page_in_both_languages(&app, "admin", admin).await;
    let request = app.request_presentation("verifier", "SD_JWT_VC", &["certificateType"]).await;
    let verifier = json!([
        { "path": "/console/wallet-requests", "name": "wallet-request-form" },
        { "path": format!("/console/wallet-requests/{}", request["id"].as_str().unwrap()), "name": "wallet-request" },
    ]);
    every_page_in_both_languages(&app, "verifier", verifier).await;
}

/// The seed's flow through the console on a three-country network: MX's registrar files a
/// certification through the form (a trader ID the RFC rules refuse shown beside its field first), MX's approver approves it, CO's
/// risk officer sees it arrive in the partner feed without reloading, MX suspends it and CO sees
/// that too; CR (an MRA for customs simplifications only) never sees it; CO's verifier sees its
/// status only; MX's registrar cannot reach approval; CR's admin suspends its MRA with MX; no
/// page asked another origin for anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_flow_through_the_console() {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().country(country).chain(&chain).anchoring(100, 200);
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").spawn().await;
    let cr = spawn("CR").spawn().await;
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;
    mx.establish_mra(&cr, json!(["CUSTOMS_SIMPLIFICATIONS"])).await;
    std::fs::create_dir_all(SCREENSHOTS).unwrap();

    const NUMBER: &str = "OEA-MX-B0001";
    let actor = |name: &str, app: &TestApp, username: &str| json!({ "name": name, "origin": app.base, "username": username, "password": PASSWORD });
    let actors = json!([
        actor("mx-registrar", &mx, "registrar"),
        actor("mx-approver", &mx, "approver"),
        actor("co-risk", &co, "risk"),
        actor("co-verifier", &co, "verifier"),
        actor("cr-risk", &cr, "risk"),
        actor("cr-admin", &cr, "admin"),
    ]);
    let row = "#arrivals tbody tr";
    let steps = json!([
        // CO's risk officer opens the partner feed and leaves it open.
        { "actor": "co-risk", "login": true },
        { "actor": "co-risk", "goto": "/console/partners" },
        { "actor": "co-risk", "navigations": true },
        // MX's registrar, in Spanish: a wrong check digit first, shown beside the field.
        { "actor": "mx-registrar", "goto": "/console/login?lang=es" },
        { "actor": "mx-registrar", "login": true },
        { "actor": "mx-registrar", "goto": "/console/submit" },
        { "actor": "mx-registrar", "fill": {
            "#certificateNumber": NUMBER, "#operatorName": "Exportadora del Pacífico S.A.",
            "#tin": "GODE561331GR8", "[id='address.street']": "Av. Central 100",
            "[id='address.city']": "Ciudad de México", "#authorisationDate": "2026-01-15",
            "#validUntil": "2099-12-31" } },
        { "actor": "mx-registrar", "click": "input[name=roles][value=EXPORTER]" },
        { "actor": "mx-registrar", "submit": "button[value=check]" },
        { "actor": "mx-registrar", "text": "#tin-error" },
        { "actor": "mx-registrar", "axe": true },
        { "actor": "mx-registrar", "screenshot": "console-form-errors.es.png" },
        { "actor": "mx-registrar", "fill": { "#tin": TIN } },
        { "actor": "mx-registrar", "submit": "#submit" },
        { "actor": "mx-registrar", "text": "h1" },
        // A registrar cannot reach approval.
        { "actor": "mx-registrar", "goto": "/console/queue" },
        // MX's approver, from the queue.
        { "actor": "mx-approver", "login": true },
        { "actor": "mx-approver", "goto": "/console/queue" },
        { "actor": "mx-approver", "submit": "table a" },
        { "actor": "mx-approver", "submit": "#decide-approve" },
        { "actor": "mx-approver", "text": "h1" },
        // CO sees it arrive, granted, without reloading.
        { "actor": "co-risk", "waitFor": { "selector": row, "text": [NUMBER, "Granted"], "timeout": 60000 } },
        // MX suspends it, with a reason; CO sees that too.
        { "actor": "mx-approver", "fill": { "#reason-suspend": "Auditoría pendiente" } },
        { "actor": "mx-approver", "submit": "#decide-suspend" },
        { "actor": "mx-approver", "text": "h1" },
        { "actor": "co-risk", "waitFor": { "selector": row, "text": [NUMBER, "Suspended"], "timeout": 60000 } },
        { "actor": "co-risk", "navigations": true },
        { "actor": "co-risk", "axe": true },
        { "actor": "co-risk", "screenshot": "console-partners-live.en.png" },
        // CO's verifier: status and validity only.
        { "actor": "co-verifier", "login": true },
        { "actor": "co-verifier", "goto": format!("/console/recognition?country=MX&tin={TIN}") },
        { "actor": "co-verifier", "text": "main" },
        // CR's MRA covers customs simplifications only: nothing of this certification.
        { "actor": "cr-risk", "login": true },
        { "actor": "cr-risk", "goto": "/console/partners" },
        { "actor": "cr-risk", "text": "main" },
        // CR's admin suspends its MRA with MX from the console: on chain, then on the page.
        { "actor": "cr-admin", "login": true },
        { "actor": "cr-admin", "goto": "/console/admin" },
        { "actor": "cr-admin", "submit": "button[value=suspend-mra]" },
        { "actor": "cr-admin", "text": "#mras + table, section[aria-labelledby=mras]" },
    ]);
    let report =
        in_browser(json!({ "op": "steps", "actors": actors, "steps": steps, "screenshots": SCREENSHOTS })).await;
    let done = report["steps"].as_array().unwrap();
    let failed: Vec<_> = done.iter().filter(|s| s.get("error").is_some()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(done.len(), steps.as_array().unwrap().len(), "every step ran: {report}");
    assert_eq!(report["errors"], json!([]), "{report}");
    assert_eq!(report["outside"], json!([]), "no request left a node's origin: {report}");
    let step = |i: usize| &done[i];

    let tin_error = step(9)["text"].as_str().unwrap();
    assert!(tin_error.contains("is not a real date"), "the RFC's own date, beside the field: {tin_error}");
    assert!(serious(&step(10)["violations"]).is_empty(), "the form with its errors: {}", step(10));
    let filed = step(14)["text"].as_str().unwrap();
    assert!(filed.contains(NUMBER) && filed.contains("Presentada"), "{filed}");
    assert_eq!(step(15)["status"], 403, "a registrar reaches no approval queue");
    assert!(step(20)["text"].as_str().unwrap().contains("Granted"), "{}", step(20));
    assert!(step(24)["text"].as_str().unwrap().contains("Suspended"), "{}", step(24));
    assert_eq!(step(2)["navigations"], step(26)["navigations"], "CO's feed updated without reloading");
    assert!(serious(&step(27)["violations"]).is_empty(), "the live feed: {}", step(27));
    let recognition = step(31)["text"].as_str().unwrap();
    assert!(recognition.contains("Suspended"), "{recognition}");
    for hidden in ["Exportadora", "Av. Central", NUMBER, "registrar", "approver"] {
        assert!(!recognition.contains(hidden), "{hidden} shown to a verifier: {recognition}");
    }
    let cr_feed = step(34)["text"].as_str().unwrap();
    assert!(!cr_feed.contains(NUMBER), "outside CR's MRA scope: {cr_feed}");
    assert_eq!(step(37)["status"], 200, "{}", step(37));
    let mras = step(38)["text"].as_str().unwrap();
    assert!(mras.contains("MX") && mras.contains("SUSPENDED"), "{mras}");
    assert_eq!(
        cr.gql(Some("admin"), "{ mras { partner state } }", json!({})).await.data()["mras"][0]["state"],
        "SUSPENDED"
    );

    // What the browser showed is what the nodes hold.
    let held = co
        .gql(
            Some("risk"),
            "query($t: String!) { certifications(filter: {country: \"MX\", tin: $t}) { edges { node { certificateNumber status } } } }",
            json!({ "t": TIN }),
        )
        .await;
    assert_eq!(held.data()["certifications"]["edges"][0]["node"]["status"], "SUSPENDED", "{:?}", held.data());
}
