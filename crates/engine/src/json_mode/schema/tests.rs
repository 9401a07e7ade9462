//! The schema checker byte by byte: what it takes, where it refuses, and the
//! budgets that keep a hostile schema cheap.

use serde_json::{Value, json};

use super::super::{Checked, JsonMode, JsonPrefix};
use super::*;
use crate::vocab::Vocab;

fn checked(schema: &Value) -> Checked {
    let schema = Arc::new(Schema::compile(schema));
    Checked {
        json: JsonPrefix {
            top_array: schema.root_is_array(),
            ..JsonPrefix::default()
        },
        schema: Some(Checker::new(schema)),
    }
}

/// How many bytes of `text` are taken, and whether all of it is a whole value.
fn run(schema: &Value, text: &str) -> (usize, bool) {
    let mut c = checked(schema);
    for (i, b) in text.bytes().enumerate() {
        if !c.feed_all(&[b]) {
            return (i, false);
        }
    }
    (text.len(), c.complete())
}

fn accepts(schema: &Value, text: &str) {
    assert_eq!(run(schema, text), (text.len(), true), "{text}");
}

/// `text` is refused at the byte just after `prefix` (which is taken).
fn refuses_after(schema: &Value, text: &str, prefix: &str) {
    assert!(text.starts_with(prefix));
    assert_eq!(run(schema, text).0, prefix.len(), "{text}");
}

fn tool() -> Value {
    json!({
        "type": "object",
        "properties": {
            "timezone": {"type": "string", "enum": ["Europe/Paris", "Asia/Tokyo"]},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "flag": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            "opt": {"type": ["string", "null"]}
        },
        "required": ["timezone", "count"]
    })
}

#[test]
fn valid_arguments_are_taken_whole() {
    let s = tool();
    accepts(&s, r#"{"timezone": "Asia/Tokyo", "count": 3}"#);
    accepts(
        &s,
        r#"{"timezone":"Europe/Paris","count":-10,"flag":true,"opt":null,"ratio":2.5e3,"tags":["a","b"]}"#,
    );
    accepts(
        &s,
        r#"{"timezone":"Europe/Paris","count":0,"opt":"x","tags":[]}"#,
    );
    // A prefix is taken but is not whole.
    let prefix = r#"{"timezone": "Asia/"#;
    assert_eq!(run(&s, prefix), (prefix.len(), false));
}

#[test]
fn each_kind_of_violation_is_refused_at_its_byte() {
    let s = tool();
    // A key that is not the one due (the SmolLM2 call that started this).
    refuses_after(&s, r#"{"time": "UTC"}"#, r#"{"time"#);
    // Required properties in the order of `required`.
    refuses_after(&s, r#"{"count": 1}"#, r#"{""#);
    // A value outside the enum.
    refuses_after(
        &s,
        r#"{"timezone": "Europe/London"}"#,
        r#"{"timezone": "Europe/"#,
    );
    // A string where a string enum is due, then a number.
    refuses_after(&s, r#"{"timezone": 5}"#, r#"{"timezone": "#);
    // Closing before a required property.
    refuses_after(
        &s,
        r#"{"timezone": "Asia/Tokyo"}"#,
        r#"{"timezone": "Asia/Tokyo""#,
    );
    // An integer with a fraction or an exponent.
    let head = r#"{"timezone": "Asia/Tokyo", "count": 1"#;
    refuses_after(&s, &format!("{head}.5}}"), head);
    refuses_after(&s, &format!("{head}e5}}"), head);
    // A property not listed (additionalProperties defaults to none).
    let whole = r#"{"timezone": "Asia/Tokyo", "count": 1"#;
    refuses_after(
        &s,
        &format!("{whole}, \"extra\": 1}}"),
        &format!("{whole}, \""),
    );
    // The same property twice.
    refuses_after(
        &s,
        &format!("{whole}, \"count\": 2}}"),
        &format!("{whole}, \""),
    );
    // Types of optional properties.
    refuses_after(
        &s,
        &format!("{whole}, \"flag\": \"yes\"}}"),
        &format!("{whole}, \"flag\": "),
    );
    refuses_after(
        &s,
        &format!("{whole}, \"opt\": 1}}"),
        &format!("{whole}, \"opt\": "),
    );
    // maxItems.
    refuses_after(
        &s,
        &format!("{whole}, \"tags\": [\"a\", \"b\", \"c\"]}}"),
        &format!("{whole}, \"tags\": [\"a\", \"b\""),
    );
    // Optional properties in name order.
    refuses_after(
        &s,
        &format!("{whole}, \"ratio\": 1, \"flag\": true}}"),
        &format!("{whole}, \"ratio\": 1, \""),
    );
    // A comma after the last property that may come.
    refuses_after(
        &s,
        &format!("{whole}, \"tags\": [],}}"),
        &format!("{whole}, \"tags\": []"),
    );
    // Still JSON first: what JSON mode refuses stays refused.
    refuses_after(&s, r#"{timezone: 1}"#, "{");
}

#[test]
fn enums_and_consts_of_any_value_are_matched_whole() {
    let s = json!({
        "type": "object",
        "properties": {"v": {"enum": [1, 12, "x", {"a": [1]}, null, true]}},
        "required": ["v"]
    });
    for ok in ["1", "12", "\"x\"", "{\"a\": [1]}", "null", "true"] {
        accepts(&s, &format!("{{\"v\": {ok}}}"));
    }
    refuses_after(&s, r#"{"v": 2}"#, r#"{"v": "#);
    refuses_after(&s, r#"{"v": 123}"#, r#"{"v": 12"#);
    refuses_after(&s, r#"{"v": 1.0}"#, r#"{"v": 1"#);
    refuses_after(&s, r#"{"v": {"a": [2]}}"#, r#"{"v": {"a": ["#);
    refuses_after(&s, r#"{"v": false}"#, r#"{"v": "#);
    let c = json!({"type": "object", "properties": {"k": {"const": "only"}}, "required": ["k"]});
    accepts(&c, r#"{"k": "only"}"#);
    refuses_after(&c, r#"{"k": "onl"}"#, r#"{"k": "onl"#);
}

#[test]
fn any_of_follows_every_branch_that_still_fits() {
    // The shape of a tool call: which arguments depends on the name.
    let call = |name: &str, args: Value| {
        json!({
            "type": "object",
            "properties": {"name": {"const": name}, "arguments": args},
            "required": ["name", "arguments"]
        })
    };
    let s = json!({"anyOf": [
        call("get_time", json!({"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]})),
        call("get_temp", json!({"type": "object", "properties": {"c": {"type": "integer"}}, "required": ["c"]})),
    ]});
    accepts(&s, r#"{"name": "get_time", "arguments": {"tz": "UTC"}}"#);
    accepts(&s, r#"{"name": "get_temp", "arguments": {"c": 3}}"#);
    refuses_after(
        &s,
        r#"{"name": "get_temp", "arguments": {"tz": "UTC"}}"#,
        r#"{"name": "get_temp", "arguments": {""#,
    );
    refuses_after(&s, r#"{"name": "get_x"}"#, r#"{"name": "get_"#);
    // Types in a list, and anyOf of scalars.
    let s = json!({"type": "object", "properties": {
        "a": {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["n/a"]}]}
    }, "required": ["a"]});
    accepts(&s, r#"{"a": 4}"#);
    accepts(&s, r#"{"a": "n/a"}"#);
    refuses_after(&s, r#"{"a": "x"}"#, r#"{"a": ""#);
    refuses_after(&s, r#"{"a": true}"#, r#"{"a": "#);
}

#[test]
fn arrays_additional_properties_and_refs() {
    let s = json!({
        "$defs": {"tz": {"type": "string", "enum": ["UTC"]}},
        "type": "object",
        "properties": {
            "zones": {"type": "array", "items": {"$ref": "#/$defs/tz"}, "minItems": 2},
            "labels": {"type": "object", "additionalProperties": {"type": "integer"}},
            "free": {"type": "object"}
        },
        "required": ["zones"]
    });
    accepts(&s, r#"{"zones": ["UTC", "UTC"]}"#);
    accepts(
        &s,
        r#"{"zones": ["UTC","UTC","UTC"], "free": {"x": [1, {"y": null}]}, "labels": {"a": 1, "b": 2}}"#,
    );
    refuses_after(&s, r#"{"zones": ["UTC"]}"#, r#"{"zones": ["UTC""#);
    refuses_after(&s, r#"{"zones": ["CET"]}"#, r#"{"zones": [""#);
    let head = r#"{"zones": ["UTC", "UTC"], "labels": {"a": "#;
    refuses_after(&s, &format!("{head}\"x\"}}}}"), head);
    // Without `properties`, any object; an unknown `$ref` is any value.
    accepts(&json!({"type": "object"}), r#"{"a": [1, 2], "b": {}}"#);
    let s =
        json!({"type": "object", "properties": {"a": {"$ref": "https://x/y"}}, "required": ["a"]});
    accepts(&s, r#"{"a": [true, {"b": "c"}]}"#);
}

#[test]
fn what_is_not_enforced_is_any_value_of_the_rest() {
    // `pattern` and `format` are not checked, the type still is.
    let s = json!({"type": "object", "properties": {
        "d": {"type": "string", "pattern": "^[0-9]+$", "format": "date"}
    }, "required": ["d"]});
    accepts(&s, r#"{"d": "not a date"}"#);
    refuses_after(&s, r#"{"d": 1}"#, r#"{"d": "#);
    // Empty schemas and `true`: anything.
    let s = json!({"type": "object", "properties": {"x": {}, "y": true}, "required": ["x", "y"]});
    accepts(&s, r#"{"x": [1], "y": "z"}"#);
}

#[test]
fn hostile_schemas_hit_a_budget_and_fall_back() {
    // A $ref that doubles at each level: 2^32 nodes if followed.
    let s = json!({
        "$defs": {"n": {"type": "object", "properties": {
            "l": {"$ref": "#/$defs/n"}, "r": {"$ref": "#/$defs/n"}
        }, "required": ["l", "r"]}},
        "$ref": "#/$defs/n"
    });
    let compiled = Schema::compile(&s);
    assert!(compiled.capped());
    // The cap, and the parents open when it was hit.
    assert!(compiled.nodes.len() <= MAX_NODES + MAX_NESTING + 1);
    // Each value's shortest text stays finite (saturating, no overflow).
    assert!(compiled.min_len.iter().all(|&n| n >= 1));

    // A huge enum: any string instead.
    let many: Vec<Value> = (0..100_000).map(|i| json!(format!("v{i}"))).collect();
    let s = json!({"type": "object", "properties": {"e": {"enum": many}}, "required": ["e"]});
    let compiled = Schema::compile(&s);
    assert!(compiled.capped());
    accepts(&s, r#"{"e": "anything"}"#);

    // Deep nesting: the part beyond the limit is any value.
    let mut deep = json!({"type": "integer"});
    for _ in 0..200 {
        deep = json!({"type": "object", "properties": {"a": deep}, "required": ["a"]});
    }
    let compiled = Schema::compile(&deep);
    assert!(compiled.capped());
    assert!(compiled.nodes.len() <= MAX_NESTING + 3);

    // anyOf inside anyOf: the readings followed at once stay bounded (16^4
    // leaves, past every cap; the schema's own JSON stays a few megabytes).
    let mut wide = json!({"type": "string"});
    for _ in 0..4 {
        let branches: Vec<Value> = (0..MAX_BRANCHES).map(|_| wide.clone()).collect();
        wide = json!({"anyOf": branches});
    }
    let s = json!({"type": "object", "properties": {"w": wide}, "required": ["w"]});
    let mut c = checked(&s);
    assert!(c.feed_all(br#"{"w": "x"#));
    let readings = c.schema.as_ref().map_or(0, |s| s.readings.len());
    assert!((1..=MAX_ALTERNATIVES).contains(&readings), "{readings}");
    assert!(c.feed_all(b"\"}") && c.complete());
}

#[test]
fn closing_costs_count_the_required_properties_still_to_write() {
    let s = tool();
    let cost = |text: &str| {
        let mut c = checked(&s);
        assert!(c.feed_all(text.as_bytes()), "{text}");
        c.closing_cost()
    };
    // `"timezone":"Asia/Tokyo","count":0}` at the least.
    assert!(cost("{") >= r#""timezone":"Asia/Tokyo","count":0}"#.len());
    assert!(cost(r#"{"timezone": "Asia/Tokyo""#) >= r#","count":0}"#.len());
    assert_eq!(cost(r#"{"timezone": "Asia/Tokyo", "count": 1}"#), 0);
}

struct Fake(Vec<&'static str>);

impl Vocab for Fake {
    fn bytes(&self, id: u32) -> &[u8] {
        self.0[id as usize].as_bytes()
    }
    fn is_stop(&self, id: u32) -> bool {
        self.0[id as usize] == "</s>"
    }
}

/// Greedy decoding of a fake model that says `intended` where it can, and
/// otherwise prefers tokens by `logits`.
fn greedy(
    mode: &mut JsonMode,
    vocab: &Fake,
    intended: &str,
    logits: &[f32],
    budget: usize,
) -> String {
    let mut text = String::new();
    for left in (1..=budget).rev() {
        let mut l = logits.to_vec();
        for (id, tok) in vocab.0.iter().enumerate() {
            if !tok.is_empty()
                && intended
                    .strip_prefix(text.as_str())
                    .is_some_and(|r| r.starts_with(tok))
            {
                // The longest piece of what it wants first.
                l[id] = 100.0 + tok.len() as f32;
            }
        }
        mode.mask(&mut l, vocab, left);
        let best = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
        if vocab.is_stop(best as u32) {
            break;
        }
        text.push_str(vocab.0[best]);
        mode.accept(vocab.0[best].as_bytes());
        if mode.complete() {
            break;
        }
    }
    text
}

#[test]
fn the_mask_steers_a_model_to_the_schema() {
    let schema = json!({"type": "object", "properties": {
        "timezone": {"type": "string", "enum": ["UTC", "Asia/Tokyo"]}
    }, "required": ["timezone"]});
    let vocab = Fake(vec![
        "</s>", "{\"", "time", "\":", " \"", "Paris", "\"", "}", "zone", "Asia", "/Tokyo", "UTC",
        "\"}",
    ]);
    // The model wants `{"time": "Paris"}`.
    let wants = r#"{"time": "Paris"}"#;
    let logits = [
        0.0, 5.0, 9.0, 8.0, 7.0, 9.5, 6.0, 4.0, 1.0, 0.5, 0.4, 0.3, 0.2,
    ];
    let mut free = JsonMode::default();
    assert_eq!(greedy(&mut free, &vocab, wants, &logits, 40), wants);
    let mut held = JsonMode::with_schema(Arc::new(Schema::compile(&schema)));
    let text = greedy(&mut held, &vocab, wants, &logits, 40);
    assert_eq!(text, r#"{"timezone": "Asia/Tokyo"}"#);
    assert!(held.tried() > 0);
}

#[test]
fn running_out_of_tokens_still_writes_the_required_properties() {
    let schema = json!({"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "array"}
    }, "required": ["a", "b"]});
    let vocab = Fake(vec![
        "</s>", "{\"", "a", "b", "c", "\":", "1", ",", " [", "]", "}", "\"", ",\"",
    ]);
    // A model that would rather open arrays and write ones for ever.
    let logits = [
        0.0, 3.0, 2.0, 2.0, 1.0, 2.0, 5.0, 1.0, 9.0, 0.1, 0.1, 0.5, 1.0,
    ];
    for budget in [14, 20, 40] {
        let mut held = JsonMode::with_schema(Arc::new(Schema::compile(&schema)));
        let text = greedy(&mut held, &vocab, "", &logits, budget);
        assert!(held.complete(), "{budget}: {text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        // Integers, however long the model made them.
        assert!(value["a"].is_number() && value["b"].is_number(), "{text}");
    }
}

#[test]
fn a_schema_for_a_list_lets_the_top_level_be_an_array() {
    let s = json!({"type": "array", "minItems": 1, "items": {
        "type": "object", "properties": {"name": {"const": "f"}}, "required": ["name"]
    }});
    accepts(&s, r#"[{"name": "f"}, {"name": "f"}]"#);
    refuses_after(&s, "[]", "[");
    refuses_after(&s, r#"{"name": "f"}"#, "");
}
