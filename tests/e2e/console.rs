//! The officer console over HTTP, as a browser uses it: sessions (cookies, CSRF, logout,
//! disabled accounts), the role policy of the API, and the languages. The same pages in a real
//! browser, with axe-core's accessibility checks, are `console_in_a_browser`.

use cadena_tests::{Backend, PASSWORD, TestApp, in_browser};
use serde_json::json;

on_both_backends!(officers_work_in_a_session_that_ends_at_logout, the_console_follows_the_apis_role_policy);

const TIN: &str = "GODE561231GR8";

/// A browser's cookie jar and its requests, without following redirects.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
    /// Every `Set-Cookie` the server sent, as sent.
    set_cookies: Vec<String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(app: &TestApp, language: &str) -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers([(reqwest::header::ACCEPT_LANGUAGE, language.parse().unwrap())].into_iter().collect())
            .build()
            .unwrap();
        Browser { base: app.base.clone(), client, cookies: Vec::new(), set_cookies: Vec::new() }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let header = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
        let response = request.header("cookie", header).send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap().to_owned();
            let (pair, attributes) = set.split_once(';').unwrap_or((&set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            let expired = value.is_empty() || attributes.to_ascii_lowercase().contains("max-age=0");
            if !expired {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
            self.set_cookies.push(set);
        }
        let status = response.status().as_u16();
        let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        Page { status, location, body: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    /// Logs in through the form; returns the answer to the form.
    async fn log_in(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = hidden_csrf(&form.body);
        self.post("/console/login", &[("csrf", &csrf), ("username", username), ("password", password)]).await
    }
}

/// The value of the page's hidden `csrf` field.
fn hidden_csrf(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").expect("a form with a csrf field") + "name=\"csrf\" value=\"".len();
    body[at..at + body[at..].find('"').unwrap()].to_owned()
}

async fn officers_work_in_a_session_that_ends_at_logout(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-MX-C0001", TIN).await;
    let mut browser = Browser::new(&app, "es-MX,es;q=0.9");

    // Without a session every page leads to the login.
    let page = browser.get("/console").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/console/login")));

    // The login form is bound to a cookie of its own: a form posted without it does nothing.
    let form = browser.get("/console/login").await;
    assert!(form.body.contains("<html lang=\"es\">") && form.body.contains("Iniciar sesión"), "{}", form.body);
    let login_cookie = browser.set_cookies.last().unwrap().clone();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(login_cookie.contains(attribute), "{login_cookie}: {attribute}");
    }
    let csrf = hidden_csrf(&form.body);
    let mut stranger = Browser::new(&app, "es");
    let forged = [("csrf", csrf.as_str()), ("username", "registrar"), ("password", PASSWORD)];
    assert_eq!(stranger.post("/console/login", &forged).await.status, 403);

    // A wrong password: 401, said plainly, and no session.
    let wrong = browser.log_in("registrar", "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Usuario o contraseña incorrectos."), "{}", wrong.body);
    assert!(browser.cookie("cadena_console").is_none());

    let logged_in = browser.log_in("registrar", PASSWORD).await;
    assert_eq!((logged_in.status, logged_in.location.as_deref()), (303, Some("/console")));
    let session_cookie = browser.set_cookies.iter().find(|c| c.starts_with("cadena_console=")).unwrap().clone();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}: {attribute}");
    }
    assert!(!session_cookie.contains("Secure"), "plain http in tests: {session_cookie}");

    // The list, then the certification with its history and credential.
    let list = browser.get("/console").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("OEA-MX-C0001") && list.body.contains("Otorgada"), "{}", list.body);
    assert!(list.body.contains(&format!("/console/certifications/{id}")));
    let found = browser.get(&format!("/console?tin={TIN}")).await;
    assert!(found.body.contains("OEA-MX-C0001"));
    let none = browser.get("/console?tin=XAXX010101000").await;
    assert!(none.body.contains("No hay certificaciones."), "{}", none.body);
    let page = browser.get(&format!("/console/certifications/{id}")).await;
    assert_eq!(page.status, 200);
    for expected in
        ["Exportadora del Pacífico S.A.", "Cadena de hashes íntegra", "Presentada", "Otorgada", "registrar", "approver"]
    {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    let credential = browser.get(&format!("/console/certifications/{id}/credential.json")).await;
    assert_eq!(credential.status, 200);
    let credential: serde_json::Value = serde_json::from_str(&credential.body).unwrap();
    assert_eq!(credential, app.credential_of(&id).await);
    assert_eq!(browser.get(&format!("/console/certifications/{}", uuid::Uuid::new_v4())).await.status, 404);

    // English on request, remembered.
    let english = browser.get("/console?lang=en").await;
    assert!(english.body.contains("<html lang=\"en\">") && english.body.contains("Granted"), "{}", english.body);
    assert!(browser.get("/console").await.body.contains("AEO certifications"));

    // Logout needs the session's token; then the cookie opens nothing, even sent again.
    let old_session = browser.cookie("cadena_console").unwrap().to_owned();
    assert_eq!(browser.post("/console/logout", &[("csrf", "forged")]).await.status, 403);
    assert_eq!(browser.get("/console").await.status, 200, "a refused logout does nothing");
    let csrf = hidden_csrf(&browser.get("/console").await.body);
    let out = browser.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location.as_deref()), (303, Some("/console/login")));
    browser.cookies.push(("cadena_console".into(), old_session));
    assert_eq!(browser.get("/console").await.location.as_deref(), Some("/console/login"));
}

async fn the_console_follows_the_apis_role_policy(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-MX-C0002", TIN).await;

    // A verifier (insurer, bank) reads recognition only: status and validity.
    let mut verifier = Browser::new(&app, "en");
    assert_eq!(verifier.log_in("verifier", PASSWORD).await.status, 303);
    let home = verifier.get("/console").await;
    assert_eq!(home.location.as_deref(), Some("/console/recognition"));
    let certification = verifier.get(&format!("/console/certifications/{id}")).await;
    assert_eq!(certification.status, 403, "{}", certification.body);
    assert!(!certification.body.contains("Exportadora"), "{}", certification.body);
    assert_eq!(verifier.get(&format!("/console/certifications/{id}/credential.json")).await.status, 403);
    let recognition = verifier.get(&format!("/console/recognition?country=MX&tin={TIN}")).await;
    assert_eq!(recognition.status, 200);
    assert!(recognition.body.contains("Granted") && recognition.body.contains("Dec 31, 2099"), "{}", recognition.body);
    for hidden in ["Exportadora", "Av. Central", "OEA-MX-C0002", "registrar", "approver"] {
        assert!(!recognition.body.contains(hidden), "{hidden} shown to a verifier: {}", recognition.body);
    }
    assert!(!home.body.contains("/console\">Certifications"), "no link the role cannot follow");

    // An issuer (VC API only) has no console page.
    let mut issuer = Browser::new(&app, "en");
    assert_eq!(issuer.log_in("issuer", PASSWORD).await.status, 303);
    assert_eq!(issuer.get("/console/recognition").await.status, 403);

    // Disabling an account ends its sessions at once.
    let mut risk = Browser::new(&app, "en");
    assert_eq!(risk.log_in("risk", PASSWORD).await.status, 303);
    assert_eq!(risk.get("/console").await.status, 200);
    let disabled =
        app.gql(Some("admin"), "mutation { disableOfficer(username: \"risk\") { username } }", json!({})).await;
    disabled.data();
    assert_eq!(risk.get("/console").await.location.as_deref(), Some("/console/login"));
}

/// Where the browser test leaves its screenshots (listed in the README).
pub const SCREENSHOTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/console-screenshots");

/// The console's pages in a real browser without internet access, in Spanish and English: an
/// approver logs in through the form and opens the list, a certification and the recognition
/// page; axe-core finds no serious or critical violation on any of them, and the browser asked
/// nothing of any other origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser() {
    let app = TestApp::builder().spawn().await;
    let id = app.granted("OEA-MX-C0003", TIN).await;
    std::fs::create_dir_all(SCREENSHOTS).unwrap();
    let paths = json!([
        { "path": "/console", "name": "certifications" },
        { "path": format!("/console/certifications/{id}"), "name": "certification" },
        { "path": format!("/console/recognition?country=MX&tin={TIN}"), "name": "recognition" },
    ]);
    let report = in_browser(json!({
        "op": "console", "url": app.base, "username": "approver", "password": PASSWORD,
        "paths": paths, "screenshots": SCREENSHOTS,
    }))
    .await;
    assert_eq!(report["errors"], json!([]), "{report}");
    assert_eq!(report["outside"], json!([]), "no request left the node's origin: {report}");
    let pages = report["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 6, "three pages, two languages: {report}");
    for page in pages {
        assert_eq!(page["status"], 200, "{page}");
        assert_eq!(page["htmlLang"], page["lang"], "{page}");
        let serious: Vec<_> = page["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
            .collect();
        assert!(serious.is_empty(), "axe-core on {} ({}): {serious:?}", page["path"], page["lang"]);
        let screenshot = std::path::Path::new(SCREENSHOTS).join(page["screenshot"].as_str().unwrap());
        assert!(std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 0), "{}", screenshot.display());
    }
    let titles: Vec<&str> = pages.iter().map(|p| p["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"Certificaciones OEA · Consola aduanera · Customs of Mexico"), "{titles:?}");
    assert!(titles.contains(&"AEO certifications · Customs console · Customs of Mexico"), "{titles:?}");
}
