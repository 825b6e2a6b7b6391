//! GraphQL over WebSocket, `graphql-transport-ws` (the protocol of enisdenjo/graphql-ws,
//! `PROTOCOL.md`): the one implementation behind both the node's and the gateway's WebSocket
//! on `/graphql`. What differs between them is plugged in through [`Operations`]: how a
//! connection is authenticated, and how an operation runs into a stream of results.
//!
//! The protocol, as served here:
//! - the client must send `connection_init` within [`CONNECTION_INIT_TIMEOUT`] (else
//!   `4408`), once (a second one is `4429`); its `authorization` (or, when the payload has
//!   none, the upgrade request's `Authorization` header) is checked, a refused one closes with
//!   `4403`, an accepted one (or none: anonymous) is acknowledged with `connection_ack`;
//! - `subscribe` before the acknowledgement is `4401`; under an id still in use, `4409`;
//!   queries and mutations are allowed and answered with one `next` then `complete`;
//! - an operation refused before it runs (syntax, validation, limits) is one `error` message;
//!   otherwise every result is a `next`, then `complete`; after the client's `complete` for
//!   an id nothing more is sent for it, and its stream (and anything upstream) is dropped;
//! - `ping` is answered with `pong` (same payload), at any time;
//! - anything else (not JSON, not an object, an unknown or server-only `type`, a field of the
//!   wrong type, a binary frame) closes with `4400` and a reason naming what was wrong;
//! - when the server stops ([`GoingAway`]), every socket closes with `1001`.
//!
//! A client that vanishes without a close frame is noticed by the read side ending, or, when
//! the network dropped it silently, by WebSocket pings it no longer answers; either way its
//! operations are dropped at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::going_away::GoingAway;
use crate::http::graphql_over_http::{MediaType, request_error};

/// The WebSocket subprotocol.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// How long a client has to send `connection_init` (graphql-ws's default
/// `connectionInitWaitTimeout`).
pub const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(3);

/// How often an idle socket is pinged; a client silent for two intervals is gone.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// How long a client may take to accept a message: one that stopped reading, or vanished
/// while its TCP buffer was full, must not hold its operations (and the server) for ever.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a closing socket waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The close codes used here.
pub mod close_code {
    /// The server is stopping.
    pub const GOING_AWAY: u16 = 1001;
    /// The server could not authenticate the connection (it did not refuse it).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// A message the protocol does not allow.
    pub const BAD_REQUEST: u16 = 4400;
    /// `subscribe` before `connection_ack`.
    pub const UNAUTHORIZED: u16 = 4401;
    /// `connection_init` refused.
    pub const FORBIDDEN: u16 = 4403;
    /// No `connection_init` in time.
    pub const CONNECTION_INIT_TIMEOUT: u16 = 4408;
    /// `subscribe` under an id in use.
    pub const SUBSCRIBER_ALREADY_EXISTS: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INITIALISATION_REQUESTS: u16 = 4429;
}

/// The operation of a `subscribe` message.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// The document.
    pub query: String,
    /// Which operation of it.
    pub operation_name: Option<String>,
    /// Its variables.
    pub variables: Option<Map<String, Value>>,
    /// Its extensions.
    pub extensions: Option<Map<String, Value>>,
}

/// JSON text, sent as it is.
pub type Json = Box<RawValue>;

/// Why `connection_init` was not acknowledged.
#[derive(Debug)]
pub enum Refusal {
    /// The credentials are refused: `4403`, with the reason.
    Forbidden(String),
    /// They could not be checked (the server's fault): `1011`.
    Unavailable(String),
}

/// What running an operation gave.
pub enum Execution {
    /// Refused before it ran (syntax, validation, variables, limits): one `error` message
    /// with these GraphQL errors (a JSON array).
    Refused(Json),
    /// Its results, each a `next`; `complete` follows the last.
    Results(BoxStream<'static, Json>),
}

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Execution::Refused(errors) => f.debug_tuple("Refused").field(errors).finish(),
            Execution::Results(_) => f.write_str("Results(..)"),
        }
    }
}

/// What a server plugs into the protocol.
pub trait Operations: Send + Sync + 'static {
    /// What an acknowledged connection carries to each of its operations (who it is).
    type Session: Clone + Send + Sync + 'static;

    /// Authenticates `connection_init`: `authorization` is the payload's (else the upgrade
    /// request's) `Authorization` value; none is anonymous.
    fn connect(&self, authorization: Option<String>) -> impl Future<Output = Result<Self::Session, Refusal>> + Send;

    /// Runs one operation of any kind; a query or mutation is a stream of one result.
    fn execute(&self, session: Self::Session, operation: Operation) -> impl Future<Output = Execution> + Send;
}

/// Answers a WebSocket upgrade on `/graphql`: `graphql-transport-ws` or a 400 naming it.
pub async fn upgrade<O: Operations>(request: Request, operations: Arc<O>, going_away: GoingAway) -> Response {
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade.protocols([PROTOCOL]),
        Err(rejection) => return rejection.into_response(),
    };
    if upgrade.selected_protocol().is_none() {
        return request_error(
            StatusCode::BAD_REQUEST,
            MediaType::Json,
            "BAD_REQUEST",
            format!("Sec-WebSocket-Protocol must offer {PROTOCOL}, the only subprotocol served"),
        );
    }
    let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Counted from now, so a server stopping while this upgrade completes still waits for it.
    let held = going_away.hold();
    upgrade.on_upgrade(move |socket| async move {
        serve(socket, operations, authorization, going_away).await;
        drop(held);
    })
}

/// An event of one operation, for the socket to send.
#[derive(Debug)]
struct Outgoing {
    id: String,
    /// Which run of `id` sent it: an id freed by `complete` may be reused at once, and what
    /// the old run had already queued must not reach the new one's client.
    run: u64,
    event: Event,
}

#[derive(Debug)]
enum Event {
    Next(Json),
    Error(Json),
    Complete,
}

/// Why the socket closes.
type Close = (u16, String);

struct Connection<O: Operations> {
    operations: Arc<O>,
    upgrade_authorization: Option<String>,
    init_received: bool,
    session: Option<O::Session>,
    running: HashMap<String, (u64, JoinHandle<()>)>,
    runs: u64,
    outgoing: mpsc::Sender<Outgoing>,
}

async fn serve<O: Operations>(
    mut socket: WebSocket,
    operations: Arc<O>,
    upgrade_authorization: Option<String>,
    going_away: GoingAway,
) {
    let (outgoing, mut events) = mpsc::channel::<Outgoing>(64);
    let mut connection = Connection {
        operations,
        upgrade_authorization,
        init_received: false,
        session: None,
        running: HashMap::new(),
        runs: 0,
        outgoing,
    };
    let init_deadline = tokio::time::sleep(CONNECTION_INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let mut keep_alive = tokio::time::interval_at(Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let mut heard = Instant::now();
    let close: Option<Close> = loop {
        tokio::select! {
            message = socket.recv() => {
                heard = Instant::now();
                match message {
                    // The client closed (its close frame is answered by the WebSocket layer)
                    // or vanished: nothing more to send.
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Binary(_))) => {
                        break Some((close_code::BAD_REQUEST, "binary messages are not graphql-transport-ws".into()));
                    }
                    Some(Ok(Message::Text(text))) => match connection.receive(&text).await {
                        Ok(Some(reply)) => {
                            if !send(&mut socket, Message::Text(reply.into())).await {
                                break None;
                            }
                        }
                        Ok(None) => {}
                        Err(close) => break Some(close),
                    },
                }
            }
            Some(event) = events.recv() => {
                if let Some(text) = connection.deliver(event)
                    && !send(&mut socket, Message::Text(text.into())).await
                {
                    break None;
                }
            }
            () = &mut init_deadline, if !connection.init_received => {
                break Some((close_code::CONNECTION_INIT_TIMEOUT, "Connection initialisation timeout".into()));
            }
            () = going_away.announced() => {
                break Some((close_code::GOING_AWAY, "the server is going away".into()));
            }
            _ = keep_alive.tick() => {
                if heard.elapsed() > 2 * KEEP_ALIVE {
                    tracing::debug!("a WebSocket client stopped answering pings; dropping it");
                    break None;
                }
                if !send(&mut socket, Message::Ping(Default::default())).await {
                    break None;
                }
            }
        }
    };
    // Every operation ends with the socket: dropping their streams ends them upstream too.
    for (_, (_, task)) in connection.running.drain() {
        task.abort();
    }
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: truncate_reason(&reason).into() };
        if send(&mut socket, Message::Close(Some(frame))).await {
            // The closing handshake: wait (briefly) for the client's close frame.
            let _ = tokio::time::timeout(CLOSE_WAIT, async { while let Some(Ok(_)) = socket.recv().await {} }).await;
        }
    }
}

/// Sends one message; false when the client is gone or did not take it in [`SEND_TIMEOUT`].
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await, Ok(Ok(())))
}

impl<O: Operations> Connection<O> {
    /// Handles one text message: `Ok(Some(text))` to send back, `Err` to close the socket.
    async fn receive(&mut self, text: &str) -> Result<Option<String>, Close> {
        let message = parse(text).map_err(|why| (close_code::BAD_REQUEST, why))?;
        match message {
            ClientMessage::ConnectionInit(payload) => {
                if self.init_received {
                    return Err((
                        close_code::TOO_MANY_INITIALISATION_REQUESTS,
                        "Too many initialisation requests".into(),
                    ));
                }
                self.init_received = true;
                let authorization = match payload.as_ref().and_then(authorization_of) {
                    Some(Ok(value)) => Some(value),
                    Some(Err(why)) => return Err((close_code::FORBIDDEN, format!("Forbidden: {why}"))),
                    None => self.upgrade_authorization.clone(),
                };
                match self.operations.connect(authorization).await {
                    Ok(session) => {
                        self.session = Some(session);
                        Ok(Some(r#"{"type":"connection_ack"}"#.into()))
                    }
                    Err(Refusal::Forbidden(why)) => Err((close_code::FORBIDDEN, format!("Forbidden: {why}"))),
                    Err(Refusal::Unavailable(why)) => {
                        tracing::warn!(%why, "a WebSocket connection could not be authenticated");
                        Err((close_code::INTERNAL_ERROR, "the credentials could not be checked".into()))
                    }
                }
            }
            ClientMessage::Ping(payload) => {
                let mut pong = Map::new();
                pong.insert("type".into(), "pong".into());
                if let Some(payload) = payload {
                    pong.insert("payload".into(), Value::Object(payload));
                }
                Ok(Some(Value::Object(pong).to_string()))
            }
            ClientMessage::Pong => Ok(None),
            ClientMessage::Subscribe { id, operation } => {
                let Some(session) = self.session.clone() else {
                    return Err((close_code::UNAUTHORIZED, "Unauthorized".into()));
                };
                if self.running.contains_key(&id) {
                    return Err((close_code::SUBSCRIBER_ALREADY_EXISTS, format!("Subscriber for {id} already exists")));
                }
                self.runs += 1;
                let run = self.runs;
                let operations = self.operations.clone();
                let outgoing = self.outgoing.clone();
                let task_id = id.clone();
                let task = tokio::spawn(async move {
                    let send = |event| outgoing.send(Outgoing { id: task_id.clone(), run, event });
                    match operations.execute(session, operation).await {
                        Execution::Refused(errors) => {
                            let _ = send(Event::Error(errors)).await;
                        }
                        Execution::Results(mut results) => {
                            while let Some(result) = results.next().await {
                                if send(Event::Next(result)).await.is_err() {
                                    return;
                                }
                            }
                            let _ = send(Event::Complete).await;
                        }
                    }
                });
                self.running.insert(id, (run, task));
                Ok(None)
            }
            ClientMessage::Complete { id } => {
                if let Some((_, task)) = self.running.remove(&id) {
                    task.abort();
                }
                Ok(None)
            }
        }
    }

    /// The text of an operation's event, unless that run of its id was completed by the client
    /// (or the id now belongs to a newer run).
    fn deliver(&mut self, Outgoing { id, run, event }: Outgoing) -> Option<String> {
        if self.running.get(&id).is_none_or(|(current, _)| *current != run) {
            return None;
        }
        let id_json = Value::String(id.clone()).to_string();
        Some(match event {
            Event::Next(payload) => format!(r#"{{"id":{id_json},"type":"next","payload":{}}}"#, payload.get()),
            Event::Error(errors) => {
                self.running.remove(&id);
                format!(r#"{{"id":{id_json},"type":"error","payload":{}}}"#, errors.get())
            }
            Event::Complete => {
                self.running.remove(&id);
                format!(r#"{{"id":{id_json},"type":"complete"}}"#)
            }
        })
    }
}

/// The `authorization` (or `Authorization`) of a `connection_init` payload, if it has one.
fn authorization_of(payload: &Map<String, Value>) -> Option<Result<String, &'static str>> {
    let value = payload.get("authorization").or_else(|| payload.get("Authorization"))?;
    Some(value.as_str().map(str::to_owned).ok_or("authorization must be a string"))
}

/// A close reason fits in 123 bytes (a control frame's payload, less the code).
fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// A message from the client.
#[derive(Debug, PartialEq)]
enum ClientMessage {
    ConnectionInit(Option<Map<String, Value>>),
    Ping(Option<Map<String, Value>>),
    Pong,
    Subscribe { id: String, operation: Operation },
    Complete { id: String },
}

/// Reads a client message, or says what is wrong with it (the `4400` reason).
fn parse(text: &str) -> Result<ClientMessage, String> {
    // Read as written: serde_json alone turns its private number key into the number it names,
    // so a document in `variables` would reach the verifier as something never signed.
    let mut message = match cadena_credentials::json::from_str(text) {
        Ok(Value::Object(message)) => message,
        Err(e @ cadena_credentials::json::JsonError::PrivateKey { .. }) => {
            return Err(format!("Invalid message received: {e}"));
        }
        _ => return Err("Invalid message received: not a JSON object".into()),
    };
    let kind = match message.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        _ => return Err("Invalid message received: `type` must be a string".into()),
    };
    let optional_object = |message: &mut Map<String, Value>, field: &str| match message.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(format!("Invalid message received: `{field}` of `{kind}` must be an object")),
    };
    let id = |message: &Map<String, Value>| match message.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(format!("Invalid message received: `id` of `{kind}` must be a non-empty string")),
    };
    match kind.as_str() {
        "connection_init" => Ok(ClientMessage::ConnectionInit(optional_object(&mut message, "payload")?)),
        "ping" => Ok(ClientMessage::Ping(optional_object(&mut message, "payload")?)),
        "pong" => optional_object(&mut message, "payload").map(|_| ClientMessage::Pong),
        "subscribe" => {
            let id = id(&message)?;
            let Some(mut payload) = optional_object(&mut message, "payload")? else {
                return Err("Invalid message received: `payload` of `subscribe` must be an object".into());
            };
            let query = match payload.remove("query") {
                Some(Value::String(query)) => query,
                _ => return Err("Invalid message received: `payload.query` of `subscribe` must be a string".into()),
            };
            let operation_name = match payload.remove("operationName") {
                None | Some(Value::Null) => None,
                Some(Value::String(name)) => Some(name),
                Some(_) => {
                    return Err(
                        "Invalid message received: `payload.operationName` of `subscribe` must be a string or null"
                            .into(),
                    );
                }
            };
            let variables = optional_object(&mut payload, "variables")?;
            let extensions = optional_object(&mut payload, "extensions")?;
            Ok(ClientMessage::Subscribe { id, operation: Operation { query, operation_name, variables, extensions } })
        }
        "complete" => Ok(ClientMessage::Complete { id: id(&message)? }),
        "connection_ack" | "next" | "error" => Err(format!("Unexpected message of type {kind} received")),
        _ => Err(format!("Invalid message received: unknown `type` {kind:?}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_every_client_message() {
        assert_eq!(parse(r#"{"type":"connection_init"}"#), Ok(ClientMessage::ConnectionInit(None)));
        assert_eq!(parse(r#"{"type":"ping","payload":null}"#), Ok(ClientMessage::Ping(None)));
        assert_eq!(parse(r#"{"type":"pong","payload":{"a":1}}"#), Ok(ClientMessage::Pong));
        assert_eq!(parse(r#"{"type":"complete","id":"7"}"#), Ok(ClientMessage::Complete { id: "7".into() }));
        let subscribe = json!({ "type": "subscribe", "id": "1", "payload": {
            "query": "{ a }", "operationName": null, "variables": { "n": 1 }
        }});
        assert_eq!(
            parse(&subscribe.to_string()),
            Ok(ClientMessage::Subscribe {
                id: "1".into(),
                operation: Operation {
                    query: "{ a }".into(),
                    operation_name: None,
                    variables: Some(json!({ "n": 1 }).as_object().unwrap().clone()),
                    extensions: None,
                },
            })
        );
    }

    #[test]
    fn names_what_is_wrong_with_a_message() {
        for (text, reason) in [
            ("{\"type\":", "not a JSON object"),
            ("[1]", "not a JSON object"),
            (r#"{"id":"1"}"#, "`type` must be a string"),
            (r#"{"type":"start","id":"1"}"#, "unknown `type` \"start\""),
            (r#"{"type":"next","id":"1","payload":{}}"#, "Unexpected message of type next received"),
            (r#"{"type":"connection_init","payload":"token"}"#, "`payload` of `connection_init` must be an object"),
            (r#"{"type":"subscribe","id":"","payload":{"query":"{a}"}}"#, "`id` of `subscribe` must be a non-empty"),
            (r#"{"type":"subscribe","id":"1"}"#, "`payload` of `subscribe` must be an object"),
            (
                r#"{"type":"subscribe","id":"1","payload":{"query":42}}"#,
                "`payload.query` of `subscribe` must be a string",
            ),
            (r#"{"type":"subscribe","id":"1","payload":{"query":"{a}","variables":[]}}"#, "`variables`"),
            (r#"{"type":"complete"}"#, "`id` of `complete`"),
            (
                r#"{"type":"subscribe","id":"1","payload":{"query":"{a}","variables":{"n":{"$serde_json::private::Number":"1"}}}}"#,
                "payload.variables.n.$serde_json::private::Number",
            ),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let long = "é".repeat(100);
        let truncated = truncate_reason(&long);
        assert!(truncated.len() <= 123 && long.starts_with(&truncated));
    }
}
