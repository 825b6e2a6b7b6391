//! The playground's static files, served by the node and the federation gateway themselves: an
//! officer's browser on a customs network without internet access loads GraphiQL from the
//! server it talks to, never from a CDN. The files are the npm packages' own, byte for byte
//! (`playground/assets/SOURCES.json`), compiled into the binary; their names carry their
//! versions, so a browser may keep them for good.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// GraphiQL's page.
pub async fn graphiql() -> Html<&'static str> {
    Html(include_str!("../../../playground/graphiql.html"))
}

/// `GET /assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some((content_type, bytes)) = file(&name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response()
}

fn file(name: &str) -> Option<(&'static str, &'static [u8])> {
    const JS: &str = "text/javascript; charset=utf-8";
    const CSS: &str = "text/css; charset=utf-8";
    Some(match name {
        "graphiql-3.8.3.min.js" => (JS, include_bytes!("../../../playground/assets/graphiql-3.8.3.min.js")),
        "graphiql-3.8.3.min.css" => (CSS, include_bytes!("../../../playground/assets/graphiql-3.8.3.min.css")),
        "react-18.3.1.production.min.js" => {
            (JS, include_bytes!("../../../playground/assets/react-18.3.1.production.min.js"))
        }
        "react-dom-18.3.1.production.min.js" => {
            (JS, include_bytes!("../../../playground/assets/react-dom-18.3.1.production.min.js"))
        }
        _ => return None,
    })
}
