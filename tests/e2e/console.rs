//! The officer console over HTTP, as a browser uses it: sessions (cookies, CSRF, logout,
//! disabled accounts), the role policy of the API, the languages, the registrar's form and the
//! approver's decisions. The same pages in a real browser are `console_browser`.

use cadena_credentials::did::did_key_for;
use cadena_credentials::keys::{Cryptosuite, SecretKey};
use cadena_tests::wallets::openid4vc;
use cadena_tests::{Backend, PASSWORD, TestApp, digital_bazaar};
use serde_json::json;

on_both_backends!(
    officers_work_in_a_session_that_ends_at_logout,
    the_console_follows_the_apis_role_policy,
    registrars_and_approvers_work_through_the_console,
    verifiers_check_credentials_and_admins_administer,
    officers_send_certifications_to_wallets_and_verifiers_ask_wallets_for_proof
);

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

/// The text of `body` between `start` and the next `end`.
fn between(body: &str, start: &str, end: &str) -> String {
    let at = body.find(start).unwrap_or_else(|| panic!("{start} in {body}")) + start.len();
    body[at..at + body[at..].find(end).unwrap()].to_owned()
}

/// An attribute's text as the page's HTML escaping wrote it, read back.
fn unescape_html(text: &str) -> String {
    [("&#34;", "\""), ("&#39;", "'"), ("&#60;", "<"), ("&#62;", ">"), ("&#38;", "&")]
        .iter()
        .fold(text.to_owned(), |text, (escaped, plain)| text.replace(escaped, plain))
}

/// The value of the page's hidden `csrf` field.
fn hidden_csrf(body: &str) -> String {
    between(body, "name=\"csrf\" value=\"", "\"")
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

    // Disabling an account ends its sessions at once, its open partner feed too.
    let mut risk = Browser::new(&app, "en");
    assert_eq!(risk.log_in("risk", PASSWORD).await.status, 303);
    assert_eq!(risk.get("/console").await.status, 200);
    let cookies = risk.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
    let mut feed = risk
        .client
        .get(format!("{}/console/partners/events", app.base))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert!(feed.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let disabled =
        app.gql(Some("admin"), "mutation { disableOfficer(username: \"risk\") { username } }", json!({})).await;
    disabled.data();
    assert_eq!(risk.get("/console").await.location.as_deref(), Some("/console/login"));
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while feed.chunk().await.unwrap().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the feed of a disabled account ends");
}

/// The form fields of the AEO data set as a registrar fills them in.
fn data_set(number: &str, tin: &str) -> Vec<(&'static str, String)> {
    [
        ("certificateNumber", number),
        ("issuingAuthority", "Customs of MX"),
        ("operatorName", "Exportadora del Pacífico S.A."),
        ("tin", tin),
        ("address.street", "Av. Central 100"),
        ("address.city", "Capital"),
        ("address.subEntity", ""),
        ("address.postcode", "10101"),
        ("address.country", "MX"),
        ("operatorDid", ""),
        ("certificateType", "SECURITY_AND_SAFETY"),
        ("roles", "EXPORTER"),
        ("roles", "IMPORTER"),
        ("authorisationDate", "2026-01-15"),
        ("validFrom", ""),
        ("validUntil", "2099-12-31"),
        ("lastValidationDate", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// Posts the data set with `csrf` and `action` (check or submit).
async fn post_data_set(browser: &mut Browser, path: &str, fields: &[(&'static str, String)], action: &str) -> Page {
    let csrf = hidden_csrf(&browser.get(path).await.body);
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf), ("action", action)];
    form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
    browser.post(path, &form).await
}

/// The certification id a redirect leads to.
fn certification_in(location: Option<&str>) -> String {
    location.and_then(|l| l.strip_prefix("/console/certifications/")).expect("a certification's page").to_owned()
}

async fn registrars_and_approvers_work_through_the_console(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let mut registrar = Browser::new(&app, "es");
    assert_eq!(registrar.log_in("registrar", PASSWORD).await.status, 303);

    // Each field's error beside it, as the server decides it (the RFC's rules included),
    // what was typed kept, nothing filed.
    let mut wrong = data_set("OEA-MX-F0001", "GODE561331GR8");
    wrong.retain(|(k, _)| *k != "address.city");
    wrong.push(("authorisationDate", "15/01/2026".into()));
    wrong.retain(|(k, v)| !(*k == "authorisationDate" && v == "2026-01-15"));
    let checked = post_data_set(&mut registrar, "/console/submit", &wrong, "submit").await;
    assert_eq!(checked.status, 422, "{}", checked.body);
    for field in ["tin", "address.city", "authorisationDate"] {
        assert!(checked.body.contains(&format!("id=\"{field}-error\"")), "{field}: {}", checked.body);
        assert!(checked.body.contains(&format!("aria-describedby=\"{field}-error\"")), "{field}");
    }
    assert!(checked.body.contains("value=\"GODE561331GR8\""), "what was typed stays");
    assert!(checked.body.contains("is not a real date"), "the RFC rules: {}", checked.body);
    assert!(checked.body.contains("is not a date"), "{}", checked.body);
    assert_eq!(app.stored_certifications().await, 0, "nothing filed");

    // Checked valid, then submitted: the certification's page, and "my submissions".
    let fields = data_set("OEA-MX-F0001", TIN);
    let ok = post_data_set(&mut registrar, "/console/submit", &fields, "check").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("Todos los campos son válidos"), "{}", ok.body);
    assert_eq!(app.stored_certifications().await, 0, "a check files nothing");
    let filed = post_data_set(&mut registrar, "/console/submit", &fields, "submit").await;
    assert_eq!(filed.status, 303, "{}", filed.body);
    let id = certification_in(filed.location.as_deref());
    let page = registrar.get(&format!("/console/certifications/{id}")).await;
    assert!(page.body.contains("Presentada") && !page.body.contains("decide-approve"), "{}", page.body);
    assert!(registrar.get("/console/submissions").await.body.contains("OEA-MX-F0001"));
    // The same number again: refused, said on the page.
    let again = post_data_set(&mut registrar, "/console/submit", &fields, "submit").await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("already exists"), "{}", again.body);

    // A registrar cannot reach approval: no queue, and a forged decision is refused.
    assert_eq!(registrar.get("/console/queue").await.status, 403);
    let csrf = hidden_csrf(&registrar.get("/console/submissions").await.body);
    let forged = registrar
        .post(&format!("/console/certifications/{id}/decision"), &[("csrf", &csrf), ("decision", "approve")])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // The approver's queue, the decision, a reason demanded where the service demands one.
    let mut approver = Browser::new(&app, "en");
    assert_eq!(approver.log_in("approver", PASSWORD).await.status, 303);
    let queue = approver.get("/console/queue").await;
    assert!(queue.body.contains("OEA-MX-F0001") && queue.body.contains("registrar"), "{}", queue.body);
    let page = approver.get(&format!("/console/certifications/{id}")).await;
    assert!(page.body.contains("decide-approve") && page.body.contains("decide-reject"), "{}", page.body);
    let csrf = hidden_csrf(&page.body);
    let path = format!("/console/certifications/{id}/decision");
    assert_eq!(approver.post(&path, &[("csrf", "forged"), ("decision", "approve")]).await.status, 403);
    let approved = approver.post(&path, &[("csrf", &csrf), ("decision", "approve")]).await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let page = approver.get(&format!("/console/certifications/{id}")).await;
    assert!(page.body.contains("Granted") && page.body.contains("decide-suspend"), "{}", page.body);
    assert!(!approver.get("/console/queue").await.body.contains("OEA-MX-F0001"));
    let no_reason = approver.post(&path, &[("csrf", &csrf), ("decision", "suspend"), ("reason", " ")]).await;
    assert_eq!(no_reason.status, 422, "{}", no_reason.body);
    assert!(no_reason.body.contains("is required to suspend"), "{}", no_reason.body);
    let suspended =
        approver.post(&path, &[("csrf", &csrf), ("decision", "suspend"), ("reason", "Audit pending")]).await;
    assert_eq!(suspended.status, 303);
    let page = approver.get(&format!("/console/certifications/{id}")).await;
    assert!(page.body.contains("Suspended") && page.body.contains("Audit pending"), "{}", page.body);
    let stored =
        app.gql(Some("auditor"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
    assert_eq!(stored.data()["certification"]["status"], "SUSPENDED");

    // An amendment from the registrar's form keeps the number; the approver approves it.
    let mut amended = data_set("OEA-MX-F0001", TIN);
    amended.retain(|(k, _)| *k != "operatorName");
    amended.push(("operatorName", "Exportadora del Pacífico S.A. de C.V.".into()));
    let filed = post_data_set(&mut registrar, &format!("/console/certifications/{id}/amend"), &amended, "submit").await;
    assert_eq!(filed.status, 303, "{}", filed.body);
    let version_2 = certification_in(filed.location.as_deref());
    assert_ne!(version_2, id);

    // Four eyes, visible: an officer who is registrar and approver cannot approve their own.
    let both = app.gql(
        Some("admin"),
        "mutation { createOfficer(input: {username: \"both\", password: \"correct horse battery staple\", roles: [REGISTRAR, APPROVER]}) { username } }",
        json!({}),
    ).await;
    both.data();
    let mut both = Browser::new(&app, "en");
    assert_eq!(both.log_in("both", "correct horse battery staple").await.status, 303);
    let own = post_data_set(&mut both, "/console/submit", &data_set("OEA-MX-F0002", TIN), "submit").await;
    let own = certification_in(own.location.as_deref());
    let page = both.get(&format!("/console/certifications/{own}")).await;
    assert!(
        page.body.contains("another approver must decide") && !page.body.contains("decide-approve"),
        "{}",
        page.body
    );
    let csrf = hidden_csrf(&page.body);
    let refused = both
        .post(&format!("/console/certifications/{own}/decision"), &[("csrf", &csrf), ("decision", "approve")])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let page = both.get(&format!("/console/certifications/{version_2}")).await;
    assert!(page.body.contains("decide-approve"), "another's amendment: {}", page.body);
}

async fn verifiers_check_credentials_and_admins_administer(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-MX-V0001", TIN).await;
    let credential = app.credential_of(&id).await;

    // A verifier pastes the credential the firm showed: the report, fragment by fragment.
    let mut verifier = Browser::new(&app, "en");
    assert_eq!(verifier.log_in("verifier", PASSWORD).await.status, 303);
    let form = verifier.get("/console/verify").await;
    assert_eq!(form.status, 200);
    let csrf = hidden_csrf(&form.body);
    let checked = verifier.post("/console/verify", &[("csrf", &csrf), ("document", &credential.to_string())]).await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(checked.body.contains("A valid AEO certification"), "{}", checked.body);
    for fragment in ["Signature (integrity)", "Trusted issuer", "Status (revocation, suspension)", "Validity period"] {
        assert!(checked.body.contains(fragment), "{fragment}: {}", checked.body);
    }
    let mut forged = credential.clone();
    forged["credentialSubject"]["legalName"] = json!("Someone Else S.A.");
    let forged = verifier.post("/console/verify", &[("csrf", &csrf), ("document", &forged.to_string())]).await;
    assert_eq!(forged.status, 200);
    assert!(forged.body.contains("does NOT verify") && forged.body.contains("outcome-INVALID"), "{}", forged.body);
    let not_json = verifier.post("/console/verify", &[("csrf", &csrf), ("document", "{ not json")]).await;
    assert_eq!(not_json.status, 422);
    assert!(not_json.body.contains("document: is not JSON"), "{}", not_json.body);
    assert_eq!(verifier.post("/console/verify", &[("csrf", "forged"), ("document", "{}")]).await.status, 403);

    // A firm presents its credential from its wallet (Digital Bazaar signs) over the one-time
    // challenge the page shows; the same presentation again is refused.
    let seed = [9u8; 32];
    let holder = SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, seed);
    let (holder_did, _) = did_key_for(&holder.public());
    let mut input = app.certification_input("OEA-MX-V0002", TIN);
    input["operatorDid"] = json!(holder_did);
    let submitted = app.submit(input).await;
    let held = submitted.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    app.transition("approver", "approveCertification", &held, None).await.data();
    let form = verifier.get("/console/verify").await;
    let challenge = between(&form.body, "<code id=\"challenge\">", "</code>");
    let presented = digital_bazaar(json!({
        "op": "issue-presentation", "credential": app.credential_of(&held).await, "challenge": challenge,
        "seed": hex::encode(seed),
    }))
    .await;
    let presentation = presented["verifiablePresentation"].to_string();
    let form = [("csrf", csrf.as_str()), ("challenge", challenge.as_str()), ("document", presentation.as_str())];
    let checked = verifier.post("/console/verify", &form).await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked.body.contains("A valid AEO certification") && checked.body.contains(&holder_did),
        "{}",
        checked.body
    );
    // (Apostrophes are escaped in the page: look for what follows them.)
    for fragment in ["s signature (presentation)", "s challenge", "The credential is the holder"] {
        assert!(checked.body.contains(fragment), "{fragment}: {}", checked.body);
    }
    let replayed = verifier.post("/console/verify", &form).await;
    assert!(replayed.body.contains("does NOT verify"), "a challenge answers once: {}", replayed.body);
    assert_eq!(verifier.get("/console/admin").await.status, 403, "a verifier administers nothing");

    // An admin sees the node's identity and manages officers; a registrar sees the MRAs only.
    let mut admin = Browser::new(&app, "en");
    assert_eq!(admin.log_in("admin", PASSWORD).await.status, 303);
    let page = admin.get("/console/admin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&app.did()) && page.body.contains("Anchoring waiting"), "{}", page.body);
    let csrf = hidden_csrf(&page.body);
    let create = [
        ("csrf", csrf.as_str()),
        ("action", "create-officer"),
        ("username", "clerk"),
        ("password", "a long enough password"),
        ("roles", "AUDITOR"),
        ("roles", "RISK_OFFICER"),
    ];
    let created = admin.post("/console/admin", &create).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let again = admin.post("/console/admin", &create).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already exists"), "{}", again.body);
    let mut clerk = Browser::new(&app, "en");
    assert_eq!(clerk.log_in("clerk", "a long enough password").await.status, 303);
    assert_eq!(clerk.get("/console").await.status, 200);
    let disabled =
        admin.post("/console/admin", &[("csrf", &csrf), ("action", "disable-officer"), ("username", "clerk")]).await;
    assert_eq!(disabled.status, 303);
    assert_eq!(clerk.get("/console").await.location.as_deref(), Some("/console/login"), "ended at once");
    let own =
        admin.post("/console/admin", &[("csrf", &csrf), ("action", "disable-officer"), ("username", "admin")]).await;
    assert_eq!(own.status, 422);
    assert!(own.body.contains("cannot disable your own account"), "{}", own.body);

    let mut registrar = Browser::new(&app, "en");
    assert_eq!(registrar.log_in("registrar", PASSWORD).await.status, 303);
    let page = registrar.get("/console/admin").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Mutual recognition arrangements") && !page.body.contains("New officer"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&app.did()), "the node's keys are the admin's page");
    let csrf = hidden_csrf(&page.body);
    let refused = registrar
        .post("/console/admin", &[("csrf", &csrf), ("action", "create-officer"), ("username", "x"), ("password", "y")])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}

async fn officers_send_certifications_to_wallets_and_verifiers_ask_wallets_for_proof(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-MX-W0010", TIN).await;

    // The registrar sends the granted certification to the firm's wallet: a QR code, the link
    // and the transaction code to give apart.
    let mut registrar = Browser::new(&app, "en");
    assert_eq!(registrar.log_in("registrar", PASSWORD).await.status, 303);
    let page = registrar.get(&format!("/console/certifications/{id}")).await;
    assert!(page.body.contains("id=\"offer-to-wallet\""), "{}", page.body);
    let csrf = hidden_csrf(&page.body);
    let offer = registrar.post(&format!("/console/certifications/{id}/wallet-offer"), &[("csrf", &csrf)]).await;
    assert_eq!(offer.status, 200, "{}", offer.body);
    assert!(offer.body.contains("<svg"), "a QR code: {}", offer.body);
    let tx_code = between(&offer.body, "<code id=\"tx-code\">", "</code>");
    let link = unescape_html(&between(&offer.body, "id=\"offer-link\" href=\"", "\""));
    assert!(link.starts_with("openid-credential-offer://"), "{link}");
    assert_eq!(
        registrar.post(&format!("/console/certifications/{id}/wallet-offer"), &[("csrf", "forged")]).await.status,
        403
    );
    // A verifier sees no such button, and cannot post the form.
    let mut verifier = Browser::new(&app, "en");
    assert_eq!(verifier.log_in("verifier", PASSWORD).await.status, 303);
    let form = verifier.get("/console/wallet-requests").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let verifier_csrf = hidden_csrf(&form.body);
    let refused =
        verifier.post(&format!("/console/certifications/{id}/wallet-offer"), &[("csrf", &verifier_csrf)]).await;
    assert_eq!(refused.status, 403);

    // The firm's wallet takes the offer from the link the page showed.
    let wallet = openid4vc(json!({ "op": "receive-offer", "offer": link, "txCode": tx_code })).await;
    assert_eq!(wallet["error"], serde_json::Value::Null, "{wallet}");

    // The verifier asks for proof with the trader ID disclosed; the page shows the request, then
    // the report once the wallet answered.
    let created = verifier
        .post(
            "/console/wallet-requests",
            &[("csrf", &verifier_csrf), ("format", "SD_JWT_VC"), ("claim", "traderIdentificationNumber")],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let at = created.location.unwrap();
    let pending = verifier.get(&at).await;
    assert!(pending.body.contains("Waiting for the wallet") && pending.body.contains("<svg"), "{}", pending.body);
    let request = unescape_html(&between(&pending.body, "id=\"request-link\" href=\"", "\""));
    let answer = openid4vc(json!({
        "op": "present", "request": request, "credentials": wallet["credentials"], "holder": wallet["holder"],
        "disclose": ["traderIdentificationNumber"],
    }))
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    let answered = verifier.get(&at).await;
    assert!(answered.body.contains("A valid AEO certification"), "{}", answered.body);
    assert!(
        answered.body.contains("traderIdentificationNumber") && answered.body.contains("id=\"recheck\""),
        "{}",
        answered.body
    );
    // The registrar may not ask wallets for proof.
    assert_eq!(registrar.get("/console/wallet-requests").await.status, 403);
}
