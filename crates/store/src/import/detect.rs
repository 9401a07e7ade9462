//! Which app wrote each file, recognised by its content (names only pair a
//! Jan `thread.json` with its `messages.jsonl`).
//!
//! A file is looked at through [`Keys`]: the top-level object's keys, or
//! those of an array's first element, skipping everything else without
//! building it, so recognising a 500 MB export costs one quick pass.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::source::{ImportLimits, Input, InputFile};
use super::{ImportFormat, Parsed, Unreadable, chatgpt, hearth, jan, lmstudio, openwebui};
use crate::StoreError;

/// What was found in the input, ready to write.
pub(crate) enum Found {
    /// A Hearth export: written as it is, ids and all.
    Hearth(hearth::Export),
    /// Another app's conversations.
    Drafts(ImportFormat, Parsed),
}

/// The keys that tell the formats apart.
#[derive(Deserialize, Default)]
struct Keys {
    format: Option<serde_json::Value>,
    object: Option<serde_json::Value>,
    mapping: Option<IgnoredAny>,
    chat: Option<IgnoredAny>,
    messages: Option<IgnoredAny>,
    assistants: Option<IgnoredAny>,
    #[serde(rename = "createdAt")]
    created_at: Option<IgnoredAny>,
    #[serde(rename = "lastUsedModel")]
    last_used_model: Option<IgnoredAny>,
    #[serde(rename = "tokenCount")]
    token_count: Option<IgnoredAny>,
}

/// A JSON document's top level.
enum Shape {
    Object(Keys),
    /// An array, with its first element's keys (when it is an object).
    Array(Option<Keys>),
    Other,
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;

        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object or array")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shape, A::Error> {
                Keys::deserialize(de::value::MapAccessDeserializer::new(map)).map(Shape::Object)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let first = seq.next_element::<FirstKeys>()?.and_then(|f| f.0);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape::Array(first))
            }

            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::Other)
            }
        }

        d.deserialize_any(ShapeVisitor)
    }
}

/// An array's first element: its keys when it is an object.
struct FirstKeys(Option<Keys>);

impl<'de> Deserialize<'de> for FirstKeys {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Shape::deserialize(d)? {
            Shape::Object(keys) => Self(Some(keys)),
            _ => Self(None),
        })
    }
}

/// Which format a file's content says it is.
fn recognise(file: &InputFile) -> Result<Option<ImportFormat>, serde_json::Error> {
    if file.base_name().ends_with(".jsonl") {
        return Ok(None);
    }
    let keys = match serde_json::from_slice::<Shape>(&file.bytes)? {
        Shape::Object(keys) => keys,
        // ChatGPT's conversations.json when there are no conversations.
        Shape::Array(None) if file.base_name().starts_with("conversations") => {
            return Ok(Some(ImportFormat::ChatGpt));
        }
        Shape::Array(Some(keys)) => {
            return Ok(if keys.mapping.is_some() {
                Some(ImportFormat::ChatGpt)
            } else if keys.chat.is_some() {
                Some(ImportFormat::OpenWebUi)
            } else {
                None
            });
        }
        Shape::Array(None) | Shape::Other => return Ok(None),
    };
    let is =
        |v: &Option<serde_json::Value>, s: &str| v.as_ref().and_then(|v| v.as_str()) == Some(s);
    Ok(
        if keys.format.is_some() && is(&keys.format, hearth::FORMAT) {
            Some(ImportFormat::Hearth)
        } else if keys.mapping.is_some() {
            Some(ImportFormat::ChatGpt)
        } else if keys.chat.is_some() {
            Some(ImportFormat::OpenWebUi)
        } else if keys.messages.is_some()
            && (keys.created_at.is_some()
                || keys.last_used_model.is_some()
                || keys.token_count.is_some())
        {
            Some(ImportFormat::LmStudio)
        } else if is(&keys.object, "thread") || keys.assistants.is_some() {
            Some(ImportFormat::Jan)
        } else {
            None
        },
    )
}

/// The format a file's name suggests, for a file whose content cannot be read.
fn named(file: &InputFile) -> Option<ImportFormat> {
    let base = file.base_name();
    if base.ends_with(".conversation.json") {
        Some(ImportFormat::LmStudio)
    } else if base == "thread.json" || base == "messages.jsonl" {
        Some(ImportFormat::Jan)
    } else if base.starts_with("conversations") && base.ends_with(".json") {
        Some(ImportFormat::ChatGpt)
    } else if base.starts_with("chat-export") {
        Some(ImportFormat::OpenWebUi)
    } else {
        None
    }
}

/// Sorts the input's files into what can be written, with a clear error when
/// nothing in it is a conversation export; also says how many JSON files were
/// something else.
pub(crate) fn sort(
    input: &Input,
    limits: &ImportLimits,
) -> Result<(Vec<Found>, usize), StoreError> {
    let mut found: Vec<Found> = Vec::new();
    let mut other = 0;
    let add = |format: ImportFormat, parsed: Parsed, found: &mut Vec<Found>| match found
        .iter_mut()
        .find_map(|f| match f {
            Found::Drafts(f, p) if *f == format => Some(p),
            _ => None,
        }) {
        Some(p) => {
            p.drafts.extend(parsed.drafts);
            p.unreadable.extend(parsed.unreadable);
        }
        None => found.push(Found::Drafts(format, parsed)),
    };
    // Jan's messages are read with their thread.json.
    let mut used: HashSet<usize> = HashSet::new();
    for (i, file) in input.files.iter().enumerate() {
        if used.contains(&i) {
            continue;
        }
        let format = match recognise(file) {
            Ok(Some(format)) => format,
            Ok(None) if file.base_name() == "messages.jsonl" => continue,
            Ok(None) if input.single => return Err(unknown(&file.name)),
            Ok(None) => {
                other += 1;
                continue;
            }
            Err(err) => {
                // Damaged: one file of many is skipped and listed; the one
                // file the user named is an error.
                let why = format!("the file is damaged ({err})");
                match named(file) {
                    Some(format) if !input.single => {
                        add(format, damaged(file, why), &mut found);
                        used.insert(i);
                        continue;
                    }
                    _ if input.single => {
                        return Err(StoreError::InvalidImport(format!(
                            "{} cannot be read: {why}",
                            file.name
                        )));
                    }
                    _ => {
                        other += 1;
                        continue;
                    }
                }
            }
        };
        used.insert(i);
        let parsed = match format {
            ImportFormat::Hearth => {
                found.push(Found::Hearth(hearth::parse(&file.bytes).map_err(|e| {
                    StoreError::InvalidImport(format!("{}: {}", file.name, strip(&e)))
                })?));
                continue;
            }
            ImportFormat::ChatGpt => chatgpt::parse(&file.bytes, limits),
            ImportFormat::OpenWebUi => openwebui::parse(&file.bytes, limits),
            ImportFormat::LmStudio => lmstudio::parse(file, limits),
            ImportFormat::Jan => {
                let messages = input
                    .files
                    .iter()
                    .position(|m| m.base_name() == "messages.jsonl" && m.dir() == file.dir());
                if let Some(m) = messages {
                    used.insert(m);
                }
                jan::parse(file, messages.map(|m| &input.files[m]), limits)
            }
        };
        match parsed {
            Ok(parsed) => add(format, parsed, &mut found),
            Err(err) if input.single => {
                return Err(StoreError::InvalidImport(format!(
                    "{}: {}",
                    file.name,
                    strip(&err)
                )));
            }
            Err(err) => add(format, damaged(file, strip(&err)), &mut found),
        }
    }
    if found.is_empty() {
        return Err(StoreError::InvalidImport(
            "found no conversations: this is not an export from ChatGPT, Jan, Open WebUI, \
             LM Studio or Hearth"
                .into(),
        ));
    }
    Ok((found, other))
}

/// A whole file that could not be read, as one skipped entry.
fn damaged(file: &InputFile, reason: String) -> Parsed {
    Parsed {
        drafts: Vec::new(),
        unreadable: vec![Unreadable {
            source_id: file.name.clone(),
            title: file.name.clone(),
            reason,
        }],
    }
}

fn unknown(name: &str) -> StoreError {
    StoreError::InvalidImport(format!(
        "{name} is not a conversation export Hearth knows (ChatGPT, Jan, Open WebUI, LM Studio \
         or Hearth)"
    ))
}

/// An error's text without the "cannot import: " its Display adds.
fn strip(err: &StoreError) -> String {
    match err {
        StoreError::InvalidImport(why) => why.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> InputFile {
        InputFile {
            name: name.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn formats_are_told_apart_by_content() {
        let cases = [
            (
                r#"[{"title":"t","mapping":{}}]"#,
                Some(ImportFormat::ChatGpt),
            ),
            (
                r#"{"title":"t","mapping":{},"current_node":null}"#,
                Some(ImportFormat::ChatGpt),
            ),
            (
                r#"[{"id":"x","chat":{"history":{}}}]"#,
                Some(ImportFormat::OpenWebUi),
            ),
            (
                r#"{"name":"n","createdAt":1,"messages":[]}"#,
                Some(ImportFormat::LmStudio),
            ),
            (
                r#"{"object":"thread","title":"t"}"#,
                Some(ImportFormat::Jan),
            ),
            (
                r#"{"format":"hearth-export","version":7}"#,
                Some(ImportFormat::Hearth),
            ),
            (r#"{"format":7}"#, None),
            (r#"[1,2,3]"#, None),
            (r#""text""#, None),
            (r#"{"user":"me"}"#, None),
        ];
        for (text, want) in cases {
            assert_eq!(recognise(&file("x.json", text)).unwrap(), want, "{text}");
        }
        assert_eq!(
            recognise(&file("conversations.json", "[]")).unwrap(),
            Some(ImportFormat::ChatGpt)
        );
        assert!(recognise(&file("x.json", "{\"mapping\": ")).is_err());
    }

    #[test]
    fn one_unknown_file_is_an_error_and_in_a_folder_is_passed_over() {
        let input = Input {
            files: vec![file("notes.json", r#"{"user":"me"}"#)],
            single: true,
        };
        let err = sort(&input, &ImportLimits::default()).err().unwrap();
        assert!(
            err.to_string().contains("not a conversation export"),
            "{err}"
        );
        let input = Input {
            single: false,
            ..input
        };
        let err = sort(&input, &ImportLimits::default()).err().unwrap();
        assert!(err.to_string().contains("found no conversations"), "{err}");
    }
}
