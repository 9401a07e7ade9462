//! A small check of a call's arguments against the tool's input schema,
//! before the call goes out: the arguments are an object, required
//! properties are present, and each property given has the schema's type
//! (and one of its `enum` values). Deeper JSON Schema (patterns, nested
//! objects, `oneOf`) is left to the server, which answers with an error.

use serde_json::{Map, Value};

/// Why `args` does not fit `schema`, or `None` when it does (as far as this
/// check looks).
pub(crate) fn check_args(schema: &Map<String, Value>, args: &Value) -> Option<String> {
    let Some(args) = args.as_object() else {
        return Some(format!("expected a JSON object, got {}", kind(args)));
    };
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        let missing: Vec<&str> = required
            .iter()
            .filter_map(Value::as_str)
            .filter(|name| !args.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            return Some(format!("missing required {}", quoted(&missing)));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        let unknown: Vec<&str> = args
            .keys()
            .map(String::as_str)
            .filter(|k| !properties.is_some_and(|p| p.contains_key(*k)))
            .collect();
        if !unknown.is_empty() {
            return Some(format!("unknown {}", quoted(&unknown)));
        }
    }
    let properties = properties?;
    for (name, value) in args {
        let Some(prop) = properties.get(name).and_then(Value::as_object) else {
            continue;
        };
        if let Some(types) = prop.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !allowed.is_empty() && !allowed.iter().any(|t| has_type(value, t)) {
                return Some(format!(
                    "`{name}` must be {}, got {}",
                    allowed.join(" or "),
                    kind(value)
                ));
            }
        }
        if let Some(choices) = prop.get("enum").and_then(Value::as_array)
            && !choices.contains(value)
        {
            return Some(format!(
                "`{name}` must be one of {}",
                Value::Array(choices.clone())
            ));
        }
    }
    None
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        // A type this check does not know: let the server judge.
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn quoted(names: &[&str]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!(
        "{} {}",
        if names.len() == 1 {
            "property"
        } else {
            "properties"
        },
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "timezone": {"type": "string"},
                "count": {"type": "integer"},
                "unit": {"type": "string", "enum": ["s", "ms"]},
                "maybe": {"type": ["string", "null"]}
            },
            "required": ["timezone"]
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn arguments_that_fit_pass() {
        assert_eq!(check_args(&schema(), &json!({"timezone": "UTC"})), None);
        assert_eq!(
            check_args(
                &schema(),
                &json!({"timezone": "UTC", "count": 3, "unit": "ms", "maybe": null, "extra": 1})
            ),
            None
        );
        assert_eq!(check_args(&Map::new(), &json!({})), None);
    }

    #[test]
    fn arguments_that_do_not_fit_say_why() {
        let s = schema();
        let why = |args: Value| check_args(&s, &args).unwrap();
        assert!(why(json!([1])).contains("JSON object"));
        assert!(why(json!({})).contains("missing required property `timezone`"));
        assert!(why(json!({"timezone": 5})).contains("`timezone` must be string, got a number"));
        assert!(why(json!({"timezone": "UTC", "count": 1.5})).contains("`count` must be integer"));
        assert!(why(json!({"timezone": "UTC", "unit": "h"})).contains("one of"));
        assert!(why(json!({"timezone": "UTC", "maybe": 1})).contains("string or null"));
        let mut closed = s.clone();
        closed.insert("additionalProperties".into(), Value::Bool(false));
        assert!(
            check_args(&closed, &json!({"timezone": "UTC", "zone": 1}))
                .unwrap()
                .contains("unknown property `zone`")
        );
    }
}
