//! Reading a JSON request body strictly, against the very schema the document publishes.
//!
//! serde's derive is lenient where the document is not: it reads a struct from a JSON
//! array (`["x"]` as `{"id": "x"}`) and knows nothing of `maximum` or `maxItems`. So a
//! body is first parsed as JSON, then checked against its type's schema in the generated
//! document (types, required and unknown fields, lengths, item counts, bounds), and only
//! then deserialized. The first problem is named by its place in the body
//! (`marks[2].at_ms: expected a number, got a string`).

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Why a body was refused: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The place in the body: `id`, `marks[2].at_ms`, or empty for the body itself.
    pub field: String,
    /// What was wrong and what is expected.
    pub message: String,
    /// A value past a limit the document states (a bound, a length, an item count), as
    /// opposed to a body of the wrong shape.
    pub out_of_range: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "the body: {}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Parse `body` as the component schema `name` of the document says, then as `T`. A body
/// that is a JSON array has its items named `root[i]` (e.g. `marks[2].text`).
pub(crate) fn parse<T: DeserializeOwned>(
    body: &[u8],
    name: &str,
    root: &str,
) -> Result<T, Problem> {
    let problem = |field: String, message: String| Problem {
        field,
        message,
        out_of_range: false,
    };
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| problem(String::new(), format!("not JSON: {e}")))?;
    let schema = schemas()
        .get(name)
        .unwrap_or_else(|| panic!("no schema {name} in the document"));
    let mut at = if value.is_array() {
        root.to_owned()
    } else {
        String::new()
    };
    check(&value, schema, &mut at)?;
    serde_json::from_value(value).map_err(|e| problem(String::new(), e.to_string()))
}

/// Check `value` against `schema` (a schema of the document, `$ref`s resolved in it).
#[cfg(test)]
pub(crate) fn check_value(value: &Value, schema: &Value) -> Result<(), Problem> {
    check(value, schema, &mut String::new())
}

/// The document's component schemas, as JSON (built once).
fn schemas() -> &'static Map<String, Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let doc = serde_json::to_value(super::document()).expect("the document is JSON");
        match doc.pointer("/components/schemas") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        }
    })
}

/// The JSON type of `v`, as a schema names it.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn article(t: &str) -> &'static str {
    match t {
        "array" | "object" | "integer" => "an",
        _ => "a",
    }
}

/// Check `v` against `schema`; `at` is the place in the body.
fn check(v: &Value, schema: &Value, at: &mut String) -> Result<(), Problem> {
    let fail = |at: &str, message: String| {
        Err(Problem {
            field: at.to_owned(),
            message,
            out_of_range: false,
        })
    };
    let beyond = |at: &str, message: String| {
        Err(Problem {
            field: at.to_owned(),
            message,
            out_of_range: true,
        })
    };
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return match schemas().get(name) {
            Some(s) => check(v, s, at),
            None => fail(at, format!("no schema {name}")),
        };
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(choices)) = schema.get(key) {
            return one_of(v, choices, at);
        }
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for s in all {
            check(v, s, at)?;
        }
    }
    if let Some(expected) = schema.get("type") {
        let got = type_of(v);
        let allowed: Vec<&str> = match expected {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = |t: &&str| *t == got || (*t == "number" && got == "integer");
        if !allowed.is_empty() && !allowed.iter().any(fits) {
            let names: Vec<String> = allowed
                .iter()
                .map(|t| format!("{} {t}", article(t)))
                .collect();
            return fail(
                at,
                format!(
                    "expected {}, got {} {got}",
                    names.join(" or "),
                    article(got)
                ),
            );
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(v) {
            return fail(
                at,
                format!("{v} is not one of {}", Value::Array(options.clone())),
            );
        }
    }
    match v {
        Value::Object(fields) => check_object(fields, schema, at),
        Value::Array(items) => check_array(items, schema, at),
        Value::String(s) => {
            let chars = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
                if chars < min {
                    return beyond(at, format!("expected at least {min} character(s)"));
                }
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
                if chars > max {
                    return beyond(at, format!("{chars} characters; at most {max}"));
                }
            }
            Ok(())
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                if x < min {
                    return beyond(at, format!("{n} is below the minimum {min}"));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                if x > max {
                    return beyond(at, format!("{n} is above the maximum {max}"));
                }
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

fn one_of(v: &Value, choices: &[Value], at: &mut String) -> Result<(), Problem> {
    let mut nearest = None;
    for choice in choices {
        match check(v, choice, at) {
            Ok(()) => return Ok(()),
            // The choice of the value's own JSON type says best what is wrong in it.
            Err(p) if declared_type(choice).as_deref() == Some(type_of(v)) => {
                nearest.get_or_insert(p);
            }
            Err(_) => {}
        }
    }
    Err(nearest.unwrap_or_else(|| {
        let kinds: Vec<String> = choices.iter().filter_map(declared_type).collect();
        Problem {
            field: at.clone(),
            out_of_range: false,
            message: format!(
                "expected {}, got {} {}",
                kinds
                    .iter()
                    .map(|t| format!("{} {t}", article(t)))
                    .collect::<Vec<_>>()
                    .join(" or "),
                article(type_of(v)),
                type_of(v)
            ),
        }
    }))
}

/// The single JSON type a schema declares (following a `$ref`).
fn declared_type(schema: &Value) -> Option<String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return declared_type(schemas().get(r.rsplit('/').next()?)?);
    }
    schema.get("type")?.as_str().map(str::to_owned)
}

fn check_object(
    fields: &Map<String, Value>,
    schema: &Value,
    at: &mut String,
) -> Result<(), Problem> {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let place = |at: &str, key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    if let Some(Value::Array(required)) = schema.get("required") {
        for key in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(key) {
                return Err(Problem {
                    field: place(at, key),
                    message: "missing (required)".into(),
                    out_of_range: false,
                });
            }
        }
    }
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (key, value) in fields {
        match properties.get(key) {
            Some(s) => {
                let len = at.len();
                *at = place(at, key);
                check(value, s, at)?;
                at.truncate(len);
            }
            None if closed => {
                let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                return Err(Problem {
                    field: place(at, key),
                    message: format!("unknown field (expected {})", known.join(", ")),
                    out_of_range: false,
                });
            }
            None => {}
        }
    }
    Ok(())
}

fn check_array(items: &[Value], schema: &Value, at: &mut String) -> Result<(), Problem> {
    let n = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
        if n > max {
            return Err(Problem {
                field: at.clone(),
                message: format!("{n} items; at most {max}"),
                out_of_range: true,
            });
        }
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
        if n < min {
            return Err(Problem {
                field: at.clone(),
                message: format!("{n} items; at least {min}"),
                out_of_range: true,
            });
        }
    }
    if let Some(item) = schema.get("items") {
        for (i, value) in items.iter().enumerate() {
            let len = at.len();
            at.push_str(&format!("[{i}]"));
            check(value, item, at)?;
            at.truncate(len);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::outputs::{BackgroundChange, CreateOutput};
    use super::super::replies::MarksBody;
    use super::*;

    fn refused<T: DeserializeOwned + std::fmt::Debug>(body: &str, name: &str) -> String {
        let root = if name == "MarksBody" { "marks" } else { "" };
        parse::<T>(body.as_bytes(), name, root)
            .expect_err(body)
            .to_string()
    }

    #[test]
    fn an_array_is_not_an_object() {
        assert_eq!(
            refused::<CreateOutput>(r#"["x"]"#, "CreateOutput"),
            "the body: expected an object, got an array"
        );
        assert_eq!(
            refused::<BackgroundChange>("[-30, false]", "BackgroundChange"),
            "the body: expected an object, got an array"
        );
        assert_eq!(
            refused::<CreateOutput>(r#"{"id": ["x"]}"#, "CreateOutput"),
            "id: expected a string, got an array"
        );
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        assert_eq!(
            refused::<CreateOutput>(r#"{"id": "a", "colour": 1}"#, "CreateOutput"),
            "colour: unknown field (expected id)"
        );
        assert_eq!(
            refused::<CreateOutput>("{}", "CreateOutput"),
            "id: missing (required)"
        );
    }

    #[test]
    fn limits_stated_in_the_document_are_enforced() {
        assert_eq!(
            refused::<BackgroundChange>(r#"{"gain_db": 13}"#, "BackgroundChange"),
            "gain_db: 13 is above the maximum 12"
        );
        let long = "x".repeat(65);
        assert!(
            refused::<CreateOutput>(&format!(r#"{{"id": "{long}"}}"#), "CreateOutput")
                .starts_with("id: 65 characters")
        );
        assert_eq!(
            refused::<MarksBody>(r#"[{"at_ms": -1, "text": "a"}]"#, "MarksBody"),
            "marks[0].at_ms: -1 is below the minimum 0"
        );
        assert_eq!(
            refused::<MarksBody>(r#"{"marks": [["a"]]}"#, "MarksBody"),
            "marks[0]: expected an object, got an array"
        );
        assert_eq!(
            refused::<MarksBody>(r#"{"rate": 10}"#, "MarksBody"),
            "rate: 10 is below the minimum 1000"
        );
    }

    #[test]
    fn what_the_document_allows_is_read() {
        let change: BackgroundChange = parse(
            br#"{"gain_db": -12.5, "enabled": true}"#,
            "BackgroundChange",
            "",
        )
        .unwrap();
        assert_eq!(change.gain_db, Some(-12.5));
        let marks: MarksBody =
            parse(br#"[{"at_ms": 0, "text": "Hi"}]"#, "MarksBody", "marks").unwrap();
        assert!(matches!(marks, MarksBody::Marks(m) if m.len() == 1));
        let marks: MarksBody =
            parse(br#"{"text": "the whole text"}"#, "MarksBody", "marks").unwrap();
        assert!(matches!(marks, MarksBody::Text(t) if t.text.is_some()));
    }
}
