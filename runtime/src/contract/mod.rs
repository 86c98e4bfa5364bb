//! The HTTP API's contract: the typed request and response bodies of every route, and the
//! OpenAPI document generated from them (utoipa), so the document cannot drift from the
//! types the handlers use.
//!
//! - [`error`]: the one error body, `{error, message, kind}`, and its [`ApiKind`].
//! - [`outputs`]: agent outputs (create, state, list, end) and their background.
//! - [`replies`]: replies (open, append, finish, state), their text marks, the audio query.
//! - [`control`]: interrupt, pause, resume, enable-input, clips.
//! - [`info`]: server information and readiness.
//! - [`events`]: the events of an output's live stream, one struct per event.
//! - [`paths`]: every route, with its parameters, body and answers.
//! - [`strict`]: reading a JSON request body against its schema: unknown fields, a wrong
//!   JSON type (an array where an object is documented) and values past the stated limits
//!   are refused with a message naming the field.

pub(crate) mod control;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod info;
pub(crate) mod outputs;
mod paths;
pub(crate) mod replies;
pub(crate) mod strict;

pub(crate) use paths::document;

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::to_value(super::document()).unwrap()
    }

    #[test]
    fn the_document_states_what_the_server_enforces() {
        let d = doc();
        let schema = |name: &str| d["components"]["schemas"][name].clone();
        assert_eq!(d["openapi"], "3.1.0");
        for strict in ["CreateOutput", "BackgroundChange", "TextBody", "MarkSpec"] {
            assert_eq!(schema(strict)["additionalProperties"], false, "{strict}");
        }
        let gain = &schema("BackgroundChange")["properties"]["gain_db"];
        assert_eq!(
            (gain["minimum"].as_f64(), gain["maximum"].as_f64()),
            (Some(-90.0), Some(12.0))
        );
        assert_eq!(schema("MarkSpec")["properties"]["text"]["maxLength"], 4096);
        assert_eq!(
            schema("TextBody")["properties"]["marks"]["maxItems"],
            10_000
        );
        let list = schema("MarksBody")["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["type"] == "array")
            .cloned()
            .unwrap();
        assert_eq!(list["maxItems"], 10_000);
        let error = schema("Error");
        let required: Vec<&str> = error["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["error", "message", "kind"]);
    }

    #[test]
    fn every_route_is_in_the_document() {
        let d = doc();
        let paths = &d["paths"];
        for (path, method) in [
            ("/readyz", "get"),
            ("/healthz", "get"),
            ("/openapi.json", "get"),
            ("/metrics", "get"),
            ("/v1/info", "get"),
            ("/v1/outputs", "post"),
            ("/v1/outputs/{id}/replies/{reply}/marks", "post"),
            ("/whep/{id}", "post"),
            ("/whep/{id}/{session}", "patch"),
        ] {
            assert!(paths[path][method].is_object(), "{method} {path}");
        }
        let offer = &paths["/whep/{id}"]["post"]["requestBody"]["content"];
        assert!(offer["application/sdp"].is_object(), "{offer}");
        let audio = &paths["/v1/outputs/{id}/replies"]["post"]["requestBody"]["content"];
        for mime in [
            "audio/L16",
            "audio/wav",
            "audio/mpeg",
            "audio/ogg",
            "audio/mp4",
        ] {
            assert!(audio[mime].is_object(), "{mime}: {audio}");
        }
        // Every operation carries the shared answers and the token parameter.
        for (path, item) in paths.as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for code in ["400", "401", "414", "431", "503"] {
                    assert!(op["responses"][code].is_object(), "{method} {path} {code}");
                }
                let params = op["parameters"].as_array().unwrap();
                assert!(
                    params.iter().any(|p| p["name"] == "access_token"),
                    "{method} {path}"
                );
            }
        }
    }

    /// Every route the router serves (`serve/api/mod.rs`, read as text) is declared in the
    /// document: a route added without its declaration in `paths.rs` fails here.
    #[test]
    fn every_route_the_router_serves_is_declared() {
        let d = doc();
        let router = include_str!("../serve/api/mod.rs");
        let mut checked = 0;
        for route in router.split(".route(").skip(1) {
            let path = route.split('"').nth(1).expect("a route's path literal");
            // The route's method handlers, up to its closing parenthesis.
            let mut depth = 1;
            let end = route
                .char_indices()
                .find_map(|(i, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    (depth == 0).then_some(i)
                })
                .expect("a route's closing parenthesis");
            let handlers = &route[..end];
            if path == "/" {
                continue; // the web page, not part of the API
            }
            for method in ["get", "post", "put", "delete", "patch"] {
                let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !matches!(handlers.as_bytes()[i - 1], b'a'..=b'z' | b'_')
                });
                if called {
                    assert!(
                        d["paths"][path][method].is_object(),
                        "{method} {path} is served but not in the document"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 24, "read the router's routes: {checked} found");
    }

    /// The operation of the document `method path` names (path segments `{x}` match any
    /// segment), and the query it carries.
    fn operation<'a>(d: &'a Value, method: &str, url: &str) -> (&'a Value, Vec<String>) {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let segs: Vec<&str> = path.split('/').collect();
        let (_, item) = d["paths"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(template, item)| {
                let t: Vec<&str> = template.split('/').collect();
                t.len() == segs.len()
                    && t.iter()
                        .zip(&segs)
                        .all(|(t, s)| t.starts_with('{') || t == s)
                    && item[method].is_object()
            })
            .unwrap_or_else(|| panic!("{method} {path} is not in the document"));
        let names = query
            .split('&')
            .filter(|q| !q.is_empty())
            .map(|q| q.split('=').next().unwrap().to_owned())
            .collect();
        (&item[method], names)
    }

    /// The requests the runtime's own API tests send (`runtime/tests/api.rs`), checked
    /// against the generated document: every route and query parameter is documented, every
    /// JSON body they send as valid fits its schema, and every body they expect refused
    /// with a 400 breaks it (so the document says what the server enforces).
    #[test]
    fn the_projects_own_requests_fit_the_document() {
        let d = doc();
        let requests: &[(&str, &str, Option<&str>, bool)] = &[
            ("post", "/v1/outputs/default/replies?wait=true", None, true),
            (
                "post",
                "/v1/outputs/default/replies?finish=false",
                None,
                true,
            ),
            (
                "post",
                "/v1/outputs/default/replies?finish=true&access_token=c&wait=true",
                None,
                true,
            ),
            (
                "post",
                "/v1/outputs/default/replies?text=Hello%20there",
                None,
                true,
            ),
            ("get", "/v1/outputs/default", None, true),
            ("get", "/v1/outputs", None, true),
            ("get", "/v1/outputs/default/replies/1", None, true),
            (
                "post",
                "/v1/outputs/default/replies/1/audio?finish=true&wait=true",
                None,
                true,
            ),
            ("post", "/v1/outputs/default/replies/1/finish", None, true),
            ("post", "/v1/outputs/default/interrupt", None, true),
            ("post", "/v1/outputs/default/pause", None, true),
            ("post", "/v1/outputs/default/resume", None, true),
            ("post", "/v1/outputs/default/enable-input", None, true),
            ("post", "/v1/outputs/default/clips/ding", None, true),
            ("post", "/v1/outputs/default/demo", None, true),
            ("get", "/v1/outputs/default/events", None, true),
            ("get", "/v1/outputs/default/audio", None, true),
            ("get", "/v1/info", None, true),
            ("get", "/metrics", None, true),
            ("get", "/healthz", None, true),
            ("get", "/readyz", None, true),
            ("get", "/openapi.json", None, true),
            ("delete", "/v1/outputs/c", None, true),
            ("post", "/v1/outputs", Some(r#"{"id": "other"}"#), true),
            ("post", "/v1/outputs", Some(r#"{"id": "d"}"#), true),
            ("post", "/v1/outputs", Some(r#"{"name": "x"}"#), false),
            ("post", "/v1/outputs", Some(r#"["x"]"#), false),
            (
                "put",
                "/v1/outputs/default/background",
                Some(r#"{"gain_db": -6, "enabled": false}"#),
                true,
            ),
            (
                "put",
                "/v1/outputs/default/background",
                Some(r#"{"enabled": false}"#),
                true,
            ),
            (
                "put",
                "/v1/outputs/default/background",
                Some(r#"{"gain_db": 40}"#),
                false,
            ),
            (
                "put",
                "/v1/outputs/default/background",
                Some(r#"{"volume": 1}"#),
                false,
            ),
            (
                "put",
                "/v1/outputs/default/background",
                Some("[-30, false]"),
                false,
            ),
            (
                "post",
                "/v1/outputs/default/replies/1/marks",
                Some(
                    r#"{"rate": 16000, "marks": [{"at_ms": 0, "text": "Hello"}, {"at_samples": 8000, "text": " world"}]}"#,
                ),
                true,
            ),
            (
                "post",
                "/v1/outputs/default/replies/1/marks",
                Some(r#"[{"at_ms": 100, "text": "late"}]"#),
                true,
            ),
            (
                "post",
                "/v1/outputs/default/replies/1/marks",
                Some(r#"{"text": "the whole text"}"#),
                true,
            ),
            (
                "post",
                "/v1/outputs/default/replies/1/marks",
                Some(r#"{"marks": 3}"#),
                false,
            ),
            (
                "post",
                "/v1/outputs/default/replies/1/marks",
                Some(r#"[{"at_ms": -5, "text": "a"}]"#),
                false,
            ),
        ];
        for (method, url, body, valid) in requests {
            let (op, query) = operation(&d, method, url);
            let documented: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            for q in &query {
                assert!(
                    documented.contains(&q.as_str()),
                    "{method} {url}: ?{q} undocumented"
                );
            }
            let Some(body) = body else { continue };
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            assert!(
                schema.is_object(),
                "{method} {url}: no JSON body documented"
            );
            let value: Value = serde_json::from_str(body).unwrap();
            let checked = super::strict::check_value(&value, schema);
            assert_eq!(
                checked.is_ok(),
                *valid,
                "{method} {url} {body}: {checked:?}"
            );
        }
    }
}
