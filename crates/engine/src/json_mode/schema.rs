//! JSON Schema on top of JSON mode: a schema compiled once into a small table
//! of nodes, and a checker that follows the recogniser's [`Event`]s and
//! refuses any byte after which no value valid under the schema can follow.
//!
//! What is enforced (the subset tool definitions use):
//!
//! - `type` (one name or a list): `object`, `array`, `string`, `number`,
//!   `integer` (no fraction, no exponent), `boolean`, `null`; `nullable: true`.
//! - Objects: `properties`, `required`, `additionalProperties` (`false`, `true`
//!   or a schema). As llama.cpp's json-schema-to-grammar does, an object that
//!   lists `properties` takes only those unless `additionalProperties` says
//!   otherwise, and its properties come in a fixed order: the required ones
//!   first, in the order of the `required` list (JSON object keys have no
//!   order once parsed, the list does), then the optional ones (each may be
//!   left out), in name order. Unlisted properties, where allowed, may come
//!   anywhere (a listed key written out of its turn then counts as unlisted).
//!   Without `properties`, any keys (values under
//!   `additionalProperties` if it is a schema). Keys are matched as written
//!   (no escapes standing for other characters).
//! - Arrays: `items` (one schema), `minItems`, `maxItems`.
//! - `enum` and `const` of any JSON values: the value must be written as
//!   serde_json writes it (whitespace between tokens aside): strings with
//!   the same escapes, numbers in the same form (`1.0` is not `1`).
//! - `anyOf` / `oneOf` (treated alike: one of them must fit), a single-schema
//!   `allOf`, `$ref` to `#` or a JSON pointer into the same document
//!   (`#/$defs/…`, `#/definitions/…`).
//!
//! Anything else (`pattern`, `format`, `minLength`, `minimum`, remote
//! `$ref`s, several `allOf` parts, `not`, `if`) is not checked: the value is
//! held to the rest of its schema, or is any JSON value. A tool is never
//! refused for its schema. Work is bounded: a schema that nests too deep,
//! has too many nodes, properties or enum values compiles what fits and
//! leaves the rest unconstrained (see the `MAX_` constants), and the checker
//! follows at most [`MAX_ALTERNATIVES`] readings of an `anyOf` at once.
//!
//! The answer always parses; it matches the schema as far as the schema was
//! compiled. Required properties the schema requires but does not list are
//! not written (there is no schema to write them by).

use std::sync::Arc;

use serde_json::Value;

use super::Event;

/// Nodes one schema compiles to at most.
const MAX_NODES: usize = 2048;
/// Schemas nested deeper than this (`$ref`s counted) are unconstrained.
const MAX_NESTING: usize = 32;
/// Values in one `enum`.
const MAX_LITERALS: usize = 512;
/// Bytes of all `enum` and `const` values of a schema together.
const MAX_LITERAL_BYTES: usize = 64 * 1024;
/// Listed properties of one object (a bit set holds the keys still possible).
const MAX_PROPERTIES: usize = 64;
/// Branches of one `anyOf`.
const MAX_BRANCHES: usize = 16;
/// `minItems` larger than this is not enforced.
const MAX_MIN_ITEMS: u64 = 64;
/// Readings of the text followed at once (`anyOf` branches alive).
pub(crate) const MAX_ALTERNATIVES: usize = 32;

/// The node that takes any JSON value.
const ANY: usize = 0;

const OBJECT: u8 = 1;
const ARRAY: u8 = 2;
const STRING: u8 = 4;
const NUMBER: u8 = 8;
const INTEGER: u8 = 16;
const BOOLEAN: u8 = 32;
const NULL: u8 = 64;

#[derive(Debug)]
enum Node {
    Any,
    /// `enum`/`const`: compact JSON texts, sorted, without duplicates.
    Literals(Vec<Vec<u8>>),
    Typed(Typed),
    AnyOf(Vec<usize>),
}

#[derive(Debug)]
struct Typed {
    types: u8,
    /// Listed properties: the required ones first.
    props: Vec<Prop>,
    /// How many of `props` are required.
    required: usize,
    /// The schema of unlisted properties; `None`: none allowed.
    additional: Option<usize>,
    items: usize,
    min_items: usize,
    max_items: usize,
}

#[derive(Debug)]
struct Prop {
    /// The key as JSON text, quotes included.
    key: Vec<u8>,
    node: usize,
}

/// A compiled schema.
#[derive(Debug)]
pub(crate) struct Schema {
    nodes: Vec<Node>,
    /// The shortest valid text of each node, in bytes.
    min_len: Vec<usize>,
    root: usize,
    /// Whether a budget was hit (parts of the schema left unconstrained).
    capped: bool,
}

impl Schema {
    /// Compiles `schema`; never fails (what cannot be compiled is any value).
    pub(crate) fn compile(schema: &Value) -> Self {
        let mut compiler = Compiler {
            document: schema,
            nodes: vec![Node::Any],
            min_len: vec![1],
            literal_bytes: 0,
            capped: false,
        };
        let root = compiler.compile(schema, 0);
        Self {
            nodes: compiler.nodes,
            min_len: compiler.min_len,
            root,
            capped: compiler.capped,
        }
    }

    /// The schema of one tool call, `{"name": …, "<key>": {…}}`, among
    /// `tools` (each a name and its parameters' schema, whose `$ref`s are
    /// resolved in that schema); with `list`, a JSON array of one or more
    /// calls. With more tools than [`MAX_ALTERNATIVES`], the name is one of
    /// theirs and the arguments any object.
    pub(crate) fn tool_call(tools: &[(&str, &Value)], key: &str, list: bool) -> Self {
        let any_object = Value::Object(serde_json::Map::new());
        let mut compiler = Compiler {
            document: &any_object,
            nodes: vec![Node::Any],
            min_len: vec![1],
            literal_bytes: 0,
            capped: false,
        };
        let Ok(key) = serde_json::to_vec(key) else {
            return Self::compile(&Value::Bool(true));
        };
        let call = |compiler: &mut Compiler<'_>, names: &[Value], arguments: usize| {
            let name = compiler.literals(names);
            compiler.push(Node::Typed(Typed {
                types: OBJECT,
                props: vec![
                    Prop {
                        key: b"\"name\"".to_vec(),
                        node: name,
                    },
                    Prop {
                        key: key.clone(),
                        node: arguments,
                    },
                ],
                required: 2,
                additional: None,
                items: ANY,
                min_items: 0,
                max_items: usize::MAX,
            }))
        };
        let one = if tools.len() > MAX_ALTERNATIVES {
            compiler.capped = true;
            let names: Vec<Value> = tools.iter().map(|(n, _)| Value::from(*n)).collect();
            let object = compiler.push(Node::Typed(Typed {
                types: OBJECT,
                props: Vec::new(),
                required: 0,
                additional: Some(ANY),
                items: ANY,
                min_items: 0,
                max_items: usize::MAX,
            }));
            call(&mut compiler, &names, object)
        } else {
            let mut calls = Vec::with_capacity(tools.len());
            for (name, parameters) in tools {
                compiler.document = *parameters;
                let arguments = compiler.compile(parameters, 1);
                calls.push(call(&mut compiler, &[Value::from(*name)], arguments));
            }
            match calls.as_slice() {
                [only] => *only,
                _ => compiler.push(Node::AnyOf(calls)),
            }
        };
        let root = if list {
            compiler.push(Node::Typed(Typed {
                types: ARRAY,
                props: Vec::new(),
                required: 0,
                additional: None,
                items: one,
                min_items: 1,
                max_items: usize::MAX,
            }))
        } else {
            one
        };
        Self {
            nodes: compiler.nodes,
            min_len: compiler.min_len,
            root,
            capped: compiler.capped,
        }
    }

    /// Whether the value must be an array (else the top level is an object).
    pub(crate) fn root_is_array(&self) -> bool {
        matches!(&self.nodes[self.root], Node::Typed(t) if t.types == ARRAY)
    }

    /// Whether a value may start with `b` (`{` or `[`).
    pub(crate) fn root_admits(&self, b: u8) -> bool {
        let mut leaves = Vec::new();
        self.leaves(self.root, &mut leaves);
        leaves.iter().any(|&leaf| self.start(leaf, b).is_some())
    }

    /// Whether a budget left part of the schema unconstrained.
    pub(crate) fn capped(&self) -> bool {
        self.capped
    }
}

struct Compiler<'a> {
    document: &'a Value,
    nodes: Vec<Node>,
    min_len: Vec<usize>,
    literal_bytes: usize,
    capped: bool,
}

impl<'a> Compiler<'a> {
    fn push(&mut self, node: Node) -> usize {
        let min = match &node {
            Node::Any => 1,
            Node::Literals(texts) => texts.iter().map(Vec::len).min().unwrap_or(1),
            Node::AnyOf(branches) => branches.iter().map(|&b| self.min_len[b]).min().unwrap_or(1),
            Node::Typed(t) => self.typed_min_len(t),
        };
        self.nodes.push(node);
        self.min_len.push(min);
        self.nodes.len() - 1
    }

    fn typed_min_len(&self, t: &Typed) -> usize {
        let mut best = usize::MAX;
        if t.types & OBJECT != 0 {
            let fields = t.props[..t.required]
                .iter()
                .map(|p| p.key.len() + 2 + self.min_len[p.node])
                .fold(0usize, usize::saturating_add);
            best = best.min(fields.saturating_add(1).max(2));
        }
        if t.types & ARRAY != 0 {
            let each = self.min_len[t.items] + 1;
            best = best.min(each.saturating_mul(t.min_items).saturating_add(1).max(2));
        }
        if t.types & STRING != 0 {
            best = best.min(2);
        }
        if t.types & (NUMBER | INTEGER) != 0 {
            best = best.min(1);
        }
        if t.types & (BOOLEAN | NULL) != 0 {
            best = best.min(4);
        }
        best
    }

    fn compile(&mut self, schema: &'a Value, depth: usize) -> usize {
        if depth > MAX_NESTING || self.nodes.len() >= MAX_NODES {
            self.capped = true;
            return ANY;
        }
        // `true`, `{}` and anything not an object: any value. (`false` would
        // refuse every value; a tool is never refused, so it is any value too.)
        let Value::Object(map) = schema else {
            return ANY;
        };
        if let Some(Value::String(target)) = map.get("$ref") {
            return match self.resolve(target) {
                Some(target) => self.compile(target, depth + 1),
                None => ANY,
            };
        }
        if let Some(value) = map.get("const") {
            return self.literals(std::slice::from_ref(value));
        }
        if let Some(Value::Array(values)) = map.get("enum") {
            return self.literals(values);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = map.get(key) {
                return self.any_of(branches, depth);
            }
        }
        if let Some(Value::Array(all)) = map.get("allOf")
            && let [only] = all.as_slice()
        {
            return self.compile(only, depth + 1);
        }
        self.typed(map, depth)
    }

    fn resolve(&self, target: &str) -> Option<&'a Value> {
        let pointer = target.strip_prefix('#')?;
        self.document.pointer(pointer)
    }

    fn literals(&mut self, values: &[Value]) -> usize {
        if values.is_empty() || values.len() > MAX_LITERALS {
            self.capped |= !values.is_empty();
            return ANY;
        }
        let mut texts = Vec::with_capacity(values.len());
        for value in values {
            if self.literal_bytes > MAX_LITERAL_BYTES {
                self.capped = true;
                return ANY;
            }
            let Ok(text) = serde_json::to_vec(value) else {
                return ANY;
            };
            self.literal_bytes += text.len();
            texts.push(text);
        }
        if self.literal_bytes > MAX_LITERAL_BYTES {
            self.capped = true;
            return ANY;
        }
        texts.sort();
        texts.dedup();
        self.push(Node::Literals(texts))
    }

    fn any_of(&mut self, branches: &'a [Value], depth: usize) -> usize {
        if branches.is_empty() || branches.len() > MAX_BRANCHES {
            self.capped |= !branches.is_empty();
            return ANY;
        }
        let mut ids = Vec::with_capacity(branches.len());
        for branch in branches {
            let id = self.compile(branch, depth + 1);
            if id == ANY {
                // One branch takes anything: so does the whole.
                return ANY;
            }
            ids.push(id);
        }
        self.push(Node::AnyOf(ids))
    }

    fn typed(&mut self, map: &'a serde_json::Map<String, Value>, depth: usize) -> usize {
        let bit = |name: &str| match name {
            "object" => OBJECT,
            "array" => ARRAY,
            "string" => STRING,
            "number" => NUMBER,
            "integer" => INTEGER,
            "boolean" => BOOLEAN,
            "null" => NULL,
            _ => 0,
        };
        let mut types = match map.get("type") {
            Some(Value::String(name)) => bit(name),
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .fold(0, |all, name| all | bit(name)),
            _ => 0,
        };
        if types == 0 {
            if ["properties", "additionalProperties", "required"]
                .iter()
                .any(|k| map.contains_key(*k))
            {
                types = OBJECT;
            } else if map.contains_key("items") {
                types = ARRAY;
            } else {
                return ANY;
            }
        }
        if map.get("nullable") == Some(&Value::Bool(true)) {
            types |= NULL;
        }
        let mut typed = Typed {
            types,
            props: Vec::new(),
            required: 0,
            additional: Some(ANY),
            items: ANY,
            min_items: 0,
            max_items: usize::MAX,
        };
        if types & OBJECT != 0 {
            self.object(map, depth, &mut typed);
        }
        if types & ARRAY != 0 {
            if let Some(items @ Value::Object(_)) = map.get("items") {
                typed.items = self.compile(items, depth + 1);
            }
            let min = map.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let max = map.get("maxItems").and_then(Value::as_u64);
            let min = if min > MAX_MIN_ITEMS {
                self.capped = true;
                0
            } else {
                min
            };
            if max.is_none_or(|max| max >= min) {
                typed.min_items = usize::try_from(min).unwrap_or(0);
                typed.max_items =
                    max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
            }
        }
        self.push(Node::Typed(typed))
    }

    fn object(&mut self, map: &'a serde_json::Map<String, Value>, depth: usize, typed: &mut Typed) {
        let listed = map.get("properties").and_then(Value::as_object);
        typed.additional = match map.get("additionalProperties") {
            None => listed.is_none().then_some(ANY),
            Some(Value::Bool(allowed)) => allowed.then_some(ANY),
            Some(schema @ Value::Object(_)) => Some(self.compile(schema, depth + 1)),
            Some(_) => Some(ANY),
        };
        let Some(listed) = listed else {
            return;
        };
        if listed.len() > MAX_PROPERTIES {
            self.capped = true;
            typed.additional = Some(ANY);
            return;
        }
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut order: Vec<(&String, &'a Value)> = Vec::with_capacity(listed.len());
        for name in &required {
            if let Some((key, schema)) = listed.get_key_value(*name)
                && !order.iter().any(|(k, _)| *k == key)
            {
                order.push((key, schema));
            }
        }
        typed.required = order.len();
        for (key, schema) in listed {
            if !order.iter().any(|(k, _)| *k == key) {
                order.push((key, schema));
            }
        }
        for (key, schema) in order {
            let node = self.compile(schema, depth + 1);
            let Ok(key) = serde_json::to_vec(key) else {
                continue;
            };
            typed.props.push(Prop { key, node });
        }
    }
}

/// Where one reading of the text is, innermost last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// A value of this node comes next.
    Expect(usize),
    /// Inside a value held to nothing; `depth` open containers in it.
    Any { depth: usize },
    /// A string, number, `true`, `false` or `null` of the right type.
    Scalar { integer: bool },
    /// An `enum`/`const` value: texts `lo..hi` of the node match the `pos`
    /// bytes written so far; `depth` open containers in it.
    Literal {
        node: usize,
        lo: usize,
        hi: usize,
        pos: usize,
        depth: usize,
    },
    Object {
        node: usize,
        /// Listed properties before this one are written or skipped.
        next: usize,
        key: KeyState,
    },
    Array {
        node: usize,
        /// Items written.
        count: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    /// Between properties.
    Between,
    /// In a key: the listed keys still possible (a bit each) after `pos`
    /// bytes, and whether it may be an unlisted one.
    Key { alive: u64, pos: usize, extra: bool },
    /// The key is written; its value's node.
    Value(usize),
    /// The value is being written.
    InValue,
}

/// Follows a JSON text under a [`Schema`].
#[derive(Debug, Clone)]
pub(crate) struct Checker {
    schema: Arc<Schema>,
    /// Every reading still possible (several only inside an `anyOf`).
    readings: Vec<Vec<Frame>>,
}

impl Checker {
    pub(crate) fn new(schema: Arc<Schema>) -> Self {
        let root = schema.root;
        Self {
            schema,
            readings: vec![vec![Frame::Expect(root)]],
        }
    }

    /// Follows one event; `false` when no reading can go on.
    pub(crate) fn feed(&mut self, event: Event) -> bool {
        let readings = std::mem::take(&mut self.readings);
        let mut next = Vec::with_capacity(readings.len());
        let left = readings.len();
        for (i, stack) in readings.into_iter().enumerate() {
            // Room for forks: what the cap leaves after the readings still to come.
            let room = MAX_ALTERNATIVES.saturating_sub(next.len() + (left - i - 1));
            self.schema.step(stack, event, room.max(1), &mut next);
        }
        self.readings = next;
        !self.readings.is_empty()
    }

    /// Bytes beyond what plain JSON needs that the schema still asks for
    /// (required properties not written, the shortest allowed value), for the
    /// reading that needs the fewest.
    pub(crate) fn closing_cost(&self) -> usize {
        self.readings
            .iter()
            .map(|stack| self.schema.stack_cost(stack))
            .min()
            .unwrap_or(0)
    }
}

impl Schema {
    fn typed(&self, node: usize) -> Option<&Typed> {
        match &self.nodes[node] {
            Node::Typed(t) => Some(t),
            _ => None,
        }
    }

    fn texts(&self, node: usize) -> &[Vec<u8>] {
        match &self.nodes[node] {
            Node::Literals(texts) => texts,
            _ => &[],
        }
    }

    /// Moves one reading past `event`; what it becomes goes to `out` (nothing
    /// when it cannot take the event, several when an `anyOf` starts).
    fn step(&self, mut stack: Vec<Frame>, event: Event, room: usize, out: &mut Vec<Vec<Frame>>) {
        if let Event::Value(b) = event {
            // A container asks for its next value's node.
            match stack.last_mut() {
                Some(Frame::Object { key, .. }) => {
                    let KeyState::Value(node) = *key else {
                        return;
                    };
                    *key = KeyState::InValue;
                    stack.push(Frame::Expect(node));
                }
                Some(Frame::Array { node, count }) => {
                    let Some(t) = self.typed(*node) else {
                        return;
                    };
                    if *count >= t.max_items {
                        return;
                    }
                    let items = t.items;
                    stack.push(Frame::Expect(items));
                }
                _ => {}
            }
            if let Some(&Frame::Expect(node)) = stack.last() {
                stack.pop();
                let mut leaves = Vec::new();
                self.leaves(node, &mut leaves);
                if leaves.len() > room {
                    // Too many readings: this value is held to nothing.
                    leaves.clear();
                    leaves.push(ANY);
                }
                for leaf in leaves {
                    if let Some(frame) = self.start(leaf, b) {
                        let mut fork = stack.clone();
                        fork.push(frame);
                        // Frames that match bytes see the first one too.
                        let ok = match frame {
                            Frame::Any { .. } | Frame::Literal { .. } => {
                                self.apply(&mut fork, event)
                            }
                            _ => true,
                        };
                        if ok {
                            out.push(fork);
                        }
                    }
                }
                return;
            }
        }
        if self.apply(&mut stack, event) {
            out.push(stack);
        }
    }

    /// The non-`anyOf` nodes `node` stands for.
    fn leaves(&self, node: usize, out: &mut Vec<usize>) {
        match &self.nodes[node] {
            Node::AnyOf(branches) => {
                for &b in branches {
                    if out.len() > MAX_ALTERNATIVES {
                        return;
                    }
                    self.leaves(b, out);
                }
            }
            _ => out.push(node),
        }
    }

    /// The frame for a value of `node` whose first byte is `b`, if it may
    /// start so.
    fn start(&self, node: usize, b: u8) -> Option<Frame> {
        match &self.nodes[node] {
            Node::Any => Some(Frame::Any { depth: 0 }),
            Node::Literals(texts) => Some(Frame::Literal {
                node,
                lo: 0,
                hi: texts.len(),
                pos: 0,
                depth: 0,
            }),
            Node::AnyOf(_) => None,
            Node::Typed(t) => {
                let kind = match b {
                    b'{' => OBJECT,
                    b'[' => ARRAY,
                    b'"' => STRING,
                    b'-' | b'0'..=b'9' => NUMBER | INTEGER,
                    b't' | b'f' => BOOLEAN,
                    b'n' => NULL,
                    _ => 0,
                };
                if t.types & kind == 0 {
                    return None;
                }
                Some(match kind {
                    OBJECT => Frame::Object {
                        node,
                        next: 0,
                        key: KeyState::Between,
                    },
                    ARRAY => Frame::Array { node, count: 0 },
                    _ => Frame::Scalar {
                        integer: kind == (NUMBER | INTEGER) && (t.types & NUMBER) == 0,
                    },
                })
            }
        }
    }

    /// Applies `event` to the innermost frame; `false`: not allowed.
    fn apply(&self, stack: &mut Vec<Frame>, event: Event) -> bool {
        let Some(top) = stack.last_mut() else {
            return false;
        };
        match top {
            Frame::Expect(_) => false,
            Frame::Any { depth } => {
                match event {
                    Event::Value(b'{' | b'[') => *depth += 1,
                    Event::Close(_) => *depth = depth.saturating_sub(1),
                    // A scalar inside a container ends; the container goes on.
                    Event::End if *depth > 0 => return true,
                    Event::End => {}
                    _ => return true,
                }
                if *depth == 0 {
                    self.done(stack);
                }
                true
            }
            Frame::Scalar { integer } => match event {
                Event::Inner(b'.' | b'e' | b'E') if *integer => false,
                Event::End => {
                    self.done(stack);
                    true
                }
                _ => true,
            },
            Frame::Literal {
                node,
                lo,
                hi,
                pos,
                depth,
            } => {
                let texts = self.texts(*node);
                if let Some(b) = event.byte() {
                    let at = *pos;
                    let range = &texts[*lo..*hi];
                    let first = range.iter().position(|t| t.get(at) == Some(&b));
                    let Some(first) = first else {
                        return false;
                    };
                    let count = range[first..]
                        .iter()
                        .take_while(|t| t.get(at) == Some(&b))
                        .count();
                    *hi = *lo + first + count;
                    *lo += first;
                    *pos += 1;
                }
                match event {
                    Event::Value(b'{' | b'[') => *depth += 1,
                    Event::Close(_) => *depth = depth.saturating_sub(1),
                    Event::End if *depth == 0 => {}
                    _ => return true,
                }
                if *depth > 0 {
                    return true;
                }
                // The value ended: it must be one of the texts, whole.
                if texts.get(*lo).is_some_and(|t| t.len() == *pos) {
                    self.done(stack);
                    true
                } else {
                    false
                }
            }
            Frame::Object { node, next, key } => {
                let Some(t) = self.typed(*node) else {
                    return false;
                };
                match (event, *key) {
                    (Event::Key(b), KeyState::Between | KeyState::Key { .. }) => {
                        let (mut alive, pos, extra) = match *key {
                            KeyState::Key { alive, pos, extra } => (alive, pos, extra),
                            _ => (self.keys_allowed(t, *next), 0, t.additional.is_some()),
                        };
                        for (i, prop) in t.props.iter().enumerate() {
                            if alive & (1 << i) != 0 && prop.key.get(pos) != Some(&b) {
                                alive &= !(1 << i);
                            }
                        }
                        *key = KeyState::Key {
                            alive,
                            pos: pos + 1,
                            extra,
                        };
                        alive != 0 || extra
                    }
                    (Event::KeyEnd, KeyState::Key { alive, pos, extra }) => {
                        let exact = t
                            .props
                            .iter()
                            .enumerate()
                            .find(|(i, p)| alive & (1 << i) != 0 && p.key.len() == pos);
                        match (exact, t.additional) {
                            (Some((i, prop)), _) => {
                                *next = i + 1;
                                *key = KeyState::Value(prop.node);
                                true
                            }
                            (None, Some(additional)) if extra => {
                                *key = KeyState::Value(additional);
                                true
                            }
                            _ => false,
                        }
                    }
                    (Event::Colon, KeyState::Value(_)) => true,
                    (Event::Comma, KeyState::Between) => {
                        // Only if another property may follow.
                        self.keys_allowed(t, *next) != 0 || t.additional.is_some()
                    }
                    (Event::Close(b'}'), KeyState::Between) => {
                        if *next < t.required {
                            return false;
                        }
                        stack.pop();
                        self.done(stack);
                        true
                    }
                    _ => false,
                }
            }
            Frame::Array { node, count } => {
                let Some(t) = self.typed(*node) else {
                    return false;
                };
                match event {
                    Event::Comma => *count < t.max_items,
                    Event::Close(b']') => {
                        if *count < t.min_items {
                            return false;
                        }
                        stack.pop();
                        self.done(stack);
                        true
                    }
                    _ => false,
                }
            }
        }
    }

    /// The listed keys that may come after the first `next` (a bit each):
    /// the next required one, or once those are written, any optional one
    /// still ahead.
    fn keys_allowed(&self, t: &Typed, next: usize) -> u64 {
        let n = t.props.len();
        if next < t.required {
            1 << next
        } else if next >= n {
            0
        } else {
            let all = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            all & !((1u64 << next) - 1)
        }
    }

    /// The innermost value is written: pops its frame and tells its container.
    fn done(&self, stack: &mut Vec<Frame>) {
        if matches!(
            stack.last(),
            Some(Frame::Any { .. } | Frame::Scalar { .. } | Frame::Literal { .. })
        ) {
            stack.pop();
        }
        match stack.last_mut() {
            Some(Frame::Object { key, .. }) => *key = KeyState::Between,
            Some(Frame::Array { count, .. }) => *count += 1,
            _ => {}
        }
    }

    fn stack_cost(&self, stack: &[Frame]) -> usize {
        let mut cost = 0usize;
        for frame in stack {
            cost = cost.saturating_add(match *frame {
                // Plain JSON counts one byte for a value to come.
                Frame::Expect(node) => self.min_len[node].saturating_sub(1),
                Frame::Any { .. } | Frame::Scalar { .. } => 0,
                Frame::Literal { node, lo, pos, .. } => self
                    .texts(node)
                    .get(lo)
                    .map_or(0, |t| t.len().saturating_sub(pos)),
                Frame::Object { node, next, key } => {
                    let Some(t) = self.typed(node) else { continue };
                    // `,"key":value` for each required property not written
                    // (the `}` is plain JSON's).
                    let mut missing = 0usize;
                    for (i, prop) in t.props.iter().enumerate().take(t.required).skip(next) {
                        let whole = prop.key.len() + 2 + self.min_len[prop.node];
                        missing = missing.saturating_add(match key {
                            // The key being written: the rest of it, `:` and
                            // the value, less the closing quote, colon and
                            // value byte plain JSON counts.
                            KeyState::Key { alive, pos, .. }
                                if i == next && alive & (1 << i) != 0 =>
                            {
                                (prop.key.len() + 1 + self.min_len[prop.node])
                                    .saturating_sub(pos + 3)
                            }
                            _ => whole,
                        });
                    }
                    if let KeyState::Value(node) = key {
                        missing = missing.saturating_add(self.min_len[node].saturating_sub(1));
                    }
                    missing
                }
                Frame::Array { node, count } => {
                    let Some(t) = self.typed(node) else { continue };
                    t.min_items
                        .saturating_sub(count)
                        .saturating_mul(self.min_len[t.items] + 1)
                }
            });
        }
        cost
    }
}

#[cfg(test)]
mod tests;
