//! Who may call what. One rule for every endpoint, on every listener (the control server and
//! a separate `transport.whep_listen`):
//!
//! | group | endpoints | needs, when tokens are set |
//! |---|---|---|
//! | public | `/`, `/healthz`, `/readyz`, `/openapi.json`, CORS preflights (`OPTIONS`) | nothing, ever |
//! | listening | `GET /v1/outputs/{id}/audio`, `/whep/**` | a listener token (`transport.tokens`) or a control token (`server.tokens`); open when neither list has one |
//! | control | everything else: `/v1/**`, `/metrics`, `/v1/info` | a control token (`server.tokens`); open when that list is empty |
//!
//! `server.public = ["metrics", "info", "listen"]` opens those groups to everyone.
//!
//! A token comes as `Authorization: Bearer <token>` (the scheme in any case, RFC 9110
//! §11.1) or as the `access_token` query parameter (RFC 6750 §2.3: form-urlencoded, so it is
//! percent-decoded) on any endpoint, for clients that cannot set headers (EventSource,
//! `<audio>`). The parameter is taken out of the URL before the request reaches its handler.
//! Tokens are compared in constant time (a wrong guess takes as long as a right one,
//! whatever prefix it shares), against every configured token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::{Answer, ApiError};
use super::state::AppState;
use crate::config::{Public, ServerConfig, TransportConfig};
use crate::contract::error::ApiKind;

/// Which tokens an endpoint asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Public,
    Listening,
    Control,
}

fn group_of(method: &Method, path: &str, public: Public) -> Group {
    let path = path.trim_end_matches('/');
    match path {
        "" | "/healthz" | "/readyz" | "/openapi.json" => return Group::Public,
        "/metrics" if public.metrics => return Group::Public,
        "/v1/info" if public.info => return Group::Public,
        _ => {}
    }
    if method == Method::OPTIONS {
        return Group::Public;
    }
    let listening = path.starts_with("/whep")
        || (method == Method::GET
            && path.starts_with("/v1/outputs/")
            && path.ends_with("/audio")
            && path.matches('/').count() == 4);
    match listening {
        true if public.listen => Group::Public,
        true => Group::Listening,
        false => Group::Control,
    }
}

/// The tokens that open `group` (empty: the group is open).
fn tokens_for<'a>(
    group: Group,
    server: &'a ServerConfig,
    transport: &'a TransportConfig,
) -> Vec<&'a str> {
    let control = server.tokens.iter().map(String::as_str);
    match group {
        Group::Public => Vec::new(),
        Group::Control => control.collect(),
        Group::Listening => transport
            .tokens
            .iter()
            .map(String::as_str)
            .chain(control)
            .collect(),
    }
}

/// The middleware: strip `access_token` from the URL, then let the request through or answer
/// 401.
pub(crate) async fn check(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let from_query = take_query_token(req.uri_mut());
    let c = &state.config;
    let group = group_of(req.method(), req.uri().path(), c.server.public);
    let allowed = tokens_for(group, &c.server, &c.transport);
    if allowed.is_empty() {
        return next.run(req).await;
    }
    let presented = match bearer(req.headers()) {
        Some(Ok(token)) => Some(token.to_owned()),
        Some(Err(())) => None,
        None => from_query,
    };
    match presented {
        Some(token) if any_equal(token.as_bytes(), &allowed) => next.run(req).await,
        presented => refuse(group, presented.is_some()),
    }
}

fn refuse(group: Group, had_token: bool) -> Response {
    let which = match group {
        Group::Listening => {
            "a listener token (transport.tokens) or a control token (server.tokens)"
        }
        _ => "a control token (server.tokens)",
    };
    let message = if had_token {
        format!("the token is not valid here; this endpoint needs {which}")
    } else {
        format!("this endpoint needs {which}: send `Authorization: Bearer <token>` or `?access_token=<token>`")
    };
    let mut response = ApiError::of(
        Answer::Unauthorized,
        ApiKind::InvalidInput,
        "unauthorized",
        message,
    )
    .into_response();
    let challenge = if had_token {
        "Bearer realm=\"voxpace\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"voxpace\""
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// The bearer token of an `Authorization` header: `None` without the header, `Err` when it
/// is not a bearer credential.
fn bearer(headers: &axum::http::HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.trim().split_once(char::is_whitespace)?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    });
    Some(parsed.ok_or(()))
}

/// Constant-time comparison against every allowed token (no early exit on a match either).
fn any_equal(token: &[u8], allowed: &[&str]) -> bool {
    let mut found = subtle::Choice::from(0);
    for t in allowed {
        found |= token.ct_eq(t.as_bytes());
    }
    found.into()
}

/// Remove every `access_token` parameter from the URL's query; the (decoded) value of the
/// first one.
fn take_query_token(uri: &mut Uri) -> Option<String> {
    let query = uri.query()?;
    let mut token = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let mut parsed = form_urlencoded::parse(pair.as_bytes());
        match parsed.next() {
            Some((k, v)) if k == "access_token" => {
                token.get_or_insert_with(|| v.into_owned());
            }
            _ => kept.push(pair),
        }
    }
    token.as_ref()?;
    let path = uri.path();
    let rebuilt = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = rebuilt.parse().ok();
    *uri = Uri::from_parts(parts).unwrap_or_default();
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_token_is_decoded_and_removed() {
        let mut uri: Uri =
            "/v1/outputs/default/replies?finish=false&access_token=a%2Bb%3D%3D&wait=true"
                .parse()
                .unwrap();
        assert_eq!(take_query_token(&mut uri).as_deref(), Some("a+b=="));
        assert_eq!(
            uri.to_string(),
            "/v1/outputs/default/replies?finish=false&wait=true"
        );
        let mut uri: Uri = "/metrics?access_token=x".parse().unwrap();
        assert_eq!(take_query_token(&mut uri).as_deref(), Some("x"));
        assert_eq!(uri.to_string(), "/metrics");
        let mut uri: Uri = "/metrics?x=1".parse().unwrap();
        assert_eq!(take_query_token(&mut uri), None);
        assert_eq!(uri.to_string(), "/metrics?x=1");
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        let mut h = axum::http::HeaderMap::new();
        for v in ["Bearer t0k", "bearer t0k", "BEARER   t0k "] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            assert_eq!(bearer(&h), Some(Ok("t0k")), "{v}");
        }
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpw"),
        );
        assert_eq!(bearer(&h), Some(Err(())));
    }

    #[test]
    fn groups() {
        let p = Public::default();
        let get = Method::GET;
        assert_eq!(group_of(&get, "/healthz", p), Group::Public);
        assert_eq!(group_of(&get, "/metrics", p), Group::Control);
        assert_eq!(group_of(&get, "/v1/info", p), Group::Control);
        assert_eq!(group_of(&get, "/v1/outputs/a/audio", p), Group::Listening);
        assert_eq!(group_of(&Method::POST, "/whep/a", p), Group::Listening);
        assert_eq!(group_of(&Method::OPTIONS, "/whep/a", p), Group::Public);
        assert_eq!(
            group_of(&get, "/v1/outputs/a/replies/1/audio", p),
            Group::Control
        );
        let open = Public {
            metrics: true,
            info: true,
            listen: true,
        };
        assert_eq!(group_of(&get, "/metrics", open), Group::Public);
        assert_eq!(group_of(&get, "/v1/outputs/a/audio", open), Group::Public);
    }

    #[test]
    fn every_token_is_checked() {
        assert!(any_equal(b"two", &["one", "two"]));
        assert!(!any_equal(b"tw", &["one", "two"]));
        assert!(!any_equal(b"", &["one"]));
    }
}
