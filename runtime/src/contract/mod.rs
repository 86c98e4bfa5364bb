//! The HTTP API's contract: the typed request and response bodies of every route, and the
//! OpenAPI document generated from them (utoipa), so the document cannot drift from the
//! types the handlers use.
//!
//! - [`error`]: the one error body, `{error, message, kind}`, and its [`ApiKind`].
//! - [`outputs`]: agent outputs (create, state, list, end) and their background.
//! - [`replies`]: replies (open, append, finish, state), their text marks, the audio query.
//! - [`control`]: interrupt, pause, resume, enable-input, clips.
//! - [`info`]: server information and readiness.
//! - [`paths`]: every route, with its parameters, body and answers.
//! - [`strict`]: reading a JSON request body against its schema: unknown fields, a wrong
//!   JSON type (an array where an object is documented) and values past the stated limits
//!   are refused with a message naming the field.

#![allow(dead_code)] // phase 1: the handlers take these types in the next step

pub(crate) mod control;
pub(crate) mod error;
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
        let error = schema("ErrorBody");
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
}
