//! The officer console at `/console`: server-rendered pages (templates in
//! `playground/console/`), no script, every file from the node itself. Officers log in with
//! their account into a session ([`ConsoleSessions`]: HttpOnly, SameSite=Strict cookie, Secure
//! when the node is served over https, idle and absolute timeouts, ended when the account is
//! disabled); every form carries the session's CSRF token (the login form a token of its own,
//! bound to a cookie), and every page asks the same role policy as the API
//! ([`authorize`](cadena_resolvers::auth::roles::authorize)) before it reads anything.
//!
//! | path | what | who |
//! |---|---|---|
//! | `GET/POST /console/login`, `POST /console/logout` | the session | anyone |
//! | `GET /console` | certifications, searchable by trader ID | who may read certifications |
//! | `GET /console/certifications/{id}` | data, status, validity, history with its hash-chain check and chain confirmations, the credential | who may read certifications (history: who may read it) |
//! | `GET /console/submissions` | what the officer submitted | REGISTRAR |
//! | `GET/POST /console/submit` | the AEO data set form: check, then submit | REGISTRAR |
//! | `GET/POST /console/certifications/{id}/amend` | an amendment of a granted or suspended one | REGISTRAR |
//! | `GET /console/queue` | submitted certifications awaiting a decision | APPROVER |
//! | `POST /console/certifications/{id}/decision` | approve, reject, suspend, reinstate, revoke, annul | APPROVER |
//! | `GET /console/partners` (+ `/events`, SSE) | what MRA partners sent, live; refused messages | who may subscribe to events (refusals: who may read the message log) |
//! | `GET /console/recognition` | an operator's recognition: status and validity only | VERIFIER and officers |
//! | `GET/POST /console/verify` | a pasted credential verified, its report by fragment in words | VERIFIER and officers |
//! | `GET/POST /console/admin` | node identity and anchoring lag, officers, MRAs, webhook deliveries | each section as the API's policy allows |

mod admin;
mod decisions;
mod feed;
mod pages;
mod registrar;
pub mod texts;
mod verify;
mod wallets;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use cadena_resolvers::auth::{Operation, Principal};
use cadena_resolvers::errors::ServiceError;
use cadena_resolvers::services::console_sessions::{ABSOLUTE, ConsoleSessions, OpenSession, random_token};
use serde::Deserialize;
use uuid::Uuid;

use crate::node::Node;
use pages::Chrome;
use texts::Lang;

pub(crate) const SESSION_COOKIE: &str = "cadena_console";
const LOGIN_COOKIE: &str = "cadena_console_login";
const LANG_COOKIE: &str = "cadena_console_lang";

/// The console's routes.
pub fn routes() -> Router<Node> {
    Router::new()
        .route("/console", get(pages::certifications))
        .route("/console/login", get(login_form).post(log_in))
        .route("/console/logout", axum::routing::post(log_out))
        .route("/console/certifications/{id}", get(pages::certification))
        .route("/console/certifications/{id}/credential.json", get(pages::credential))
        .route("/console/certifications/{id}/amend", get(registrar::amend_form).post(registrar::amend))
        .route("/console/certifications/{id}/decision", axum::routing::post(decisions::decide))
        .route("/console/submit", get(registrar::new_form).post(registrar::submit))
        .route("/console/submissions", get(pages::submissions))
        .route("/console/queue", get(decisions::queue))
        .route("/console/partners", get(feed::page))
        .route("/console/partners/events", get(feed::events))
        .route("/console/recognition", get(pages::recognition))
        .route("/console/verify", get(verify::form).post(verify::check))
        .route("/console/certifications/{id}/wallet-offer", axum::routing::post(wallets::offer))
        .route("/console/wallet-requests", get(wallets::form).post(wallets::create))
        .route("/console/wallet-requests/{id}", get(wallets::show))
        .route("/console/admin", get(admin::page).post(admin::act))
        .route("/console/brand.css", get(brand_stylesheet))
        .route("/console/logo", get(logo))
        .route(
            "/console/console.css",
            get(|| asset("text/css", include_str!("../../../playground/console/console.css"))),
        )
        .route(
            "/console/console.js",
            get(|| asset("text/javascript", include_str!("../../../playground/console/console.js"))),
        )
}

/// A file of the console, from the binary.
async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let content_type = format!("{content_type}; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache".to_owned())], body).into_response()
}

/// `[console] brand_colour`, over the stylesheet's default.
async fn brand_stylesheet(State(node): State<Node>) -> Response {
    let css = match &node.config.console.brand_colour {
        Some(colour) => format!(":root {{ --brand: {colour}; }}\n"),
        None => String::new(),
    };
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], css).into_response()
}

/// `[console] logo`, read when asked (a replaced file shows without a restart).
async fn logo(State(node): State<Node>) -> Response {
    let console = &node.config.console;
    let (Some(path), Some(media_type)) = (&console.logo, console.logo_type()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, media_type), (header::CACHE_CONTROL, "no-cache")], bytes).into_response(),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "the console's logo cannot be read");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}

/// `?lang=` on any page.
#[derive(Debug, Default, Deserialize)]
struct LangParam {
    lang: Option<String>,
}

/// Who is asking, in which language: read from the request's cookies and headers.
struct Visitor {
    lang: Lang,
    /// Set when `?lang=` chose the language: remembered in a cookie.
    chose_lang: bool,
    session: Option<OpenSession>,
    jar: CookieJar,
    secure: bool,
}

/// Every console handler starts from its visitor; a failure to read the session is the page
/// to answer with.
impl FromRequestParts<Node> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, node: &Node) -> Result<Visitor, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let lang = Query::<LangParam>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.lang);
        Visitor::read(node, jar, &parts.headers, lang.as_deref()).await
    }
}

impl Visitor {
    async fn read(node: &Node, jar: CookieJar, headers: &HeaderMap, lang: Option<&str>) -> Result<Visitor, Response> {
        let chosen = lang.and_then(Lang::parse);
        let lang = chosen
            .or_else(|| jar.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value())))
            .or_else(|| {
                headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language)
            })
            .unwrap_or(Lang::Es);
        let session = match jar.get(SESSION_COOKIE) {
            Some(cookie) => ConsoleSessions::new(node.storage.clone())
                .resume(cookie.value())
                .await
                .map_err(|e| failure(lang, node, &e))?,
            None => None,
        };
        let secure = node.config.public_url().starts_with("https://");
        Ok(Visitor { lang, chose_lang: chosen.is_some(), session, jar, secure })
    }

    /// A cookie of the console (HttpOnly, path `/console`, Secure over https).
    fn cookie(&self, name: &'static str, value: String, same_site: SameSite) -> Cookie<'static> {
        Cookie::build((name, value)).path("/console").http_only(true).secure(self.secure).same_site(same_site).build()
    }

    /// The jar to answer with: the language cookie when `?lang=` chose it.
    fn answer_jar(&self) -> CookieJar {
        let mut jar = self.jar.clone();
        if self.chose_lang {
            let mut cookie = self.cookie(LANG_COOKIE, self.lang.code().to_owned(), SameSite::Lax);
            cookie.set_max_age(time_days(365));
            jar = jar.add(cookie);
        }
        jar
    }

    fn chrome(&self, node: &Node) -> Chrome {
        Chrome::new(self.lang, node, self.session.as_ref())
    }

    /// The session's officer if the API's policy lets them do `operation`; else the page to
    /// answer with (the login, or why not).
    #[allow(clippy::result_large_err)]
    fn allowed(&self, node: &Node, operation: Operation) -> Result<&Principal, Response> {
        let principal = self.officer()?;
        principal.authorize(operation).map_err(|error| failure(self.lang, node, &error))?;
        Ok(principal)
    }

    /// Whether a posted form carries this session's CSRF token; else the refusal to answer.
    #[allow(clippy::result_large_err)]
    fn form_of_this_session(&self, node: &Node, token: &str) -> Result<(), Response> {
        match &self.session {
            Some(session) if constant_time_eq(&session.csrf, token) => Ok(()),
            _ => Err(csrf_refused(node, self)),
        }
    }

    /// The session's officer, or a redirect to the login page.
    // The error side is the page to answer with, as axum's own rejections are.
    #[allow(clippy::result_large_err)]
    fn officer(&self) -> Result<&Principal, Response> {
        self.session.as_ref().map(|s| &s.principal).ok_or_else(|| Redirect::to("/console/login").into_response())
    }
}

fn time_days(days: i64) -> time::Duration {
    time::Duration::days(days)
}

/// A page for a service error, with its status.
fn failure(lang: Lang, node: &Node, error: &ServiceError) -> Response {
    let texts = lang.texts();
    let (status, title) = match error {
        ServiceError::Forbidden { .. } | ServiceError::Unauthenticated(_) => {
            (StatusCode::FORBIDDEN, texts.forbidden_title)
        }
        ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, texts.not_found_title),
        ServiceError::InvalidInput(_) => (StatusCode::BAD_REQUEST, texts.bad_request_title),
        _ => {
            tracing::error!(%error, "console page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Error")
        }
    };
    pages::problem(Chrome::new(lang, node, None), status, title, &error.to_string())
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

/// The logout form's field.
#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn login_form(State(node): State<Node>, visitor: Visitor) -> Response {
    if visitor.session.is_some() {
        return (visitor.answer_jar(), Redirect::to("/console")).into_response();
    }
    login_page(&node, &visitor, StatusCode::OK, false, "")
}

/// The login page, with a fresh login token bound to a cookie (login CSRF).
fn login_page(node: &Node, visitor: &Visitor, status: StatusCode, failed: bool, username: &str) -> Response {
    let token = random_token();
    let mut chrome = visitor.chrome(node);
    chrome.csrf = token.clone();
    let mut cookie = visitor.cookie(LOGIN_COOKIE, token, SameSite::Strict);
    cookie.set_max_age(time_days(1));
    let jar = visitor.answer_jar().add(cookie);
    (status, jar, pages::login(chrome, failed, username)).into_response()
}

async fn log_in(State(node): State<Node>, visitor: Visitor, Form(form): Form<LoginForm>) -> Response {
    let expected = visitor.jar.get(LOGIN_COOKIE).map(|c| c.value().to_owned());
    if expected.is_none_or(|token| !constant_time_eq(&token, &form.csrf)) {
        return csrf_refused(&node, &visitor);
    }
    match node.services.officers.login(&form.username, &form.password).await {
        Ok(outcome) => match ConsoleSessions::new(node.storage.clone()).open(&outcome.officer).await {
            Ok(secret) => {
                let mut session = visitor.cookie(SESSION_COOKIE, secret, SameSite::Strict);
                // The browser forgets it no later than the database does.
                session.set_max_age(time::Duration::seconds(ABSOLUTE.as_secs() as i64));
                let jar = visitor.answer_jar().add(session).remove(Cookie::build(LOGIN_COOKIE).path("/console"));
                (jar, Redirect::to("/console")).into_response()
            }
            Err(error) => failure(visitor.lang, &node, &error),
        },
        Err(ServiceError::BadCredentials) => {
            login_page(&node, &visitor, StatusCode::UNAUTHORIZED, true, &form.username)
        }
        Err(error) => failure(visitor.lang, &node, &error),
    }
}

async fn log_out(State(node): State<Node>, visitor: Visitor, Form(form): Form<CsrfForm>) -> Response {
    if visitor.session.is_none() {
        return Redirect::to("/console/login").into_response();
    }
    if let Err(refused) = visitor.form_of_this_session(&node, &form.csrf) {
        return refused;
    }
    if let Some(cookie) = visitor.jar.get(SESSION_COOKIE)
        && let Err(error) = ConsoleSessions::new(node.storage.clone()).close(cookie.value()).await
    {
        return failure(visitor.lang, &node, &error);
    }
    let jar = visitor.answer_jar().remove(Cookie::build(SESSION_COOKIE).path("/console"));
    (jar, Redirect::to("/console/login")).into_response()
}

/// A form without its token (or another session's): refused, nothing done.
fn csrf_refused(node: &Node, visitor: &Visitor) -> Response {
    let texts = visitor.lang.texts();
    let message = match visitor.lang {
        Lang::Es => "El formulario no lleva el código de esta sesión; vuelva a cargar la página.",
        Lang::En => "The form does not carry this session's code; reload the page.",
    };
    pages::problem(visitor.chrome(node), StatusCode::FORBIDDEN, texts.forbidden_title, message)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// May `principal` do `operation` (the API's policy)?
fn may(principal: Option<&Principal>, operation: Operation) -> bool {
    principal.is_some_and(|p| p.authorize(operation).is_ok())
}

/// A certification id from the path, or a 404 page.
#[allow(clippy::result_large_err)]
fn parse_id(lang: Lang, node: &Node, id: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(id).map_err(|_| failure(lang, node, &ServiceError::NotFound(format!("certification {id}"))))
}
