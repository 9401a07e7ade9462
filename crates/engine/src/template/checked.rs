//! The checked versions of minijinja's value-building operations, and the
//! builtin filters, tests and methods with a price (see [`super::guard`] for
//! why). Each weighs what it is given against the render's [`Budget`]: a
//! result larger than [`Limits::max_bytes`] or nested deeper than
//! [`Limits::max_depth`] is refused, and the work it does (items walked,
//! bytes copied or scanned) is charged, so fuel times the work of one
//! instruction stays bounded. Otherwise each answers as minijinja would (the
//! cases not worth looking at are handed to minijinja itself).
//!
//! [`Limits::max_bytes`]: super::guard::Limits::max_bytes
//! [`Limits::max_depth`]: super::guard::Limits::max_depth

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Expression, State};

use super::guard::Budget;

pub(crate) const ADD: &str = "__hearth_add";
pub(crate) const CONCAT: &str = "__hearth_concat";
pub(crate) const MUL: &str = "__hearth_mul";
pub(crate) const EQ: &str = "__hearth_eq";
pub(crate) const NE: &str = "__hearth_ne";
pub(crate) const LT: &str = "__hearth_lt";
pub(crate) const LTE: &str = "__hearth_lte";
pub(crate) const GT: &str = "__hearth_gt";
pub(crate) const GTE: &str = "__hearth_gte";
pub(crate) const IN: &str = "__hearth_in";
pub(crate) const LIST: &str = "__hearth_list";
pub(crate) const MAP: &str = "__hearth_map";
pub(crate) const KWARGS: &str = "__hearth_kwargs";
pub(crate) const ITEM: &str = "__hearth_item";
pub(crate) const SLICE: &str = "__hearth_slice";

/// What a scalar or a container slot weighs, in bytes.
const WORD: u64 = 8;

/// Bytes of text scanned or copied per unit of work.
const BYTES_PER_WORK: u64 = 16;

impl Budget {
    /// The weight of `value`: its strings' bytes plus a word per item, items
    /// reached through shared references counted each time (that is what
    /// printing or comparing them costs). The items and bytes looked at are
    /// charged as work; past [`super::guard::Limits::max_bytes`] or
    /// [`super::guard::Limits::max_depth`] the render stops.
    pub(crate) fn weigh(&self, value: &Value) -> Result<u64, Error> {
        self.weigh_within(value, 0, 0, &mut 0)
    }

    /// [`Self::weigh`] of all of `values` together.
    pub(crate) fn weigh_all<'a>(
        &self,
        values: impl IntoIterator<Item = &'a Value>,
    ) -> Result<u64, Error> {
        let (mut total, mut items) = (0, 0);
        for value in values {
            total = self.weigh_within(value, 0, total, &mut items)?;
        }
        Ok(total)
    }

    fn weigh_within(
        &self,
        value: &Value,
        depth: usize,
        so_far: u64,
        items_seen: &mut u64,
    ) -> Result<u64, Error> {
        let limit = self.limits.max_bytes;
        let total = match value.kind() {
            ValueKind::String | ValueKind::Bytes => {
                let len = value.as_str().map_or(WORD, |s| s.len() as u64);
                self.work(1 + len / BYTES_PER_WORK)?;
                so_far + len
            }
            ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::Plain => {
                if depth >= self.limits.max_depth {
                    return Err(self.too_deep());
                }
                let is_map = value.kind() == ValueKind::Map;
                // Objects that cannot be iterated (macros, the loop object)
                // weigh a word.
                let Ok(items) = value.try_iter() else {
                    return Ok(so_far + WORD);
                };
                let mut total = so_far + WORD;
                for item in items {
                    self.work(1)?;
                    *items_seen += 1;
                    if *items_seen > self.limits.max_items {
                        return Err(self.too_many());
                    }
                    total = self.weigh_within(&item, depth + 1, total, items_seen)?;
                    if is_map && let Ok(entry) = value.get_item(&item) {
                        total = self.weigh_within(&entry, depth + 1, total, items_seen)?;
                    }
                    if total > limit {
                        return Err(self.too_big(total));
                    }
                }
                total
            }
            _ => so_far + WORD,
        };
        if total > limit {
            return Err(self.too_big(total));
        }
        Ok(total)
    }

    /// Refuses a result of `bytes`; charges copying them.
    pub(crate) fn fits(&self, bytes: u64) -> Result<(), Error> {
        if bytes > self.limits.max_bytes {
            return Err(self.too_big(bytes));
        }
        self.work(1 + bytes / BYTES_PER_WORK)
    }

    /// Charges what looking at each of `values` costs: a string's bytes, a
    /// word for a container, or, when `items`, one per item it holds (for
    /// what copies them).
    fn shallow(&self, values: &[Value], items: bool) -> Result<(), Error> {
        let cost: u64 = values
            .iter()
            .map(|v| match v.kind() {
                ValueKind::String | ValueKind::Bytes => {
                    v.as_str().map_or(0, |s| s.len() as u64) / BYTES_PER_WORK
                }
                _ if items => v.len().unwrap_or(0) as u64,
                _ => 0,
            })
            .sum();
        self.work(1 + cost)
    }
}

/// A `fmt::Write` into a string that stops (with `fmt::Error`) at `room`
/// bytes, so printing a huge value costs no more than the room it has.
pub(crate) struct Capped {
    pub(crate) text: String,
    room: usize,
    pub(crate) overflowed: bool,
}

impl Capped {
    pub(crate) fn new(room: usize) -> Self {
        Self {
            text: String::new(),
            room,
            overflowed: false,
        }
    }
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > self.room {
            self.overflowed = true;
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// `value`'s minijinja `Display`, refusing more than the value limit.
fn display(budget: &Budget, value: &Value) -> Result<String, Error> {
    if let Some(text) = value.as_str() {
        return Ok(text.to_owned());
    }
    budget.weigh(value)?;
    let room = usize::try_from(budget.limits.max_bytes).unwrap_or(usize::MAX);
    let mut out = Capped::new(room);
    if write!(out, "{value}").is_err() {
        return Err(budget.too_big(budget.limits.max_bytes + 1));
    }
    Ok(out.text)
}

/// minijinja's own operators, for the cases the checked ones pass on
/// (numbers, mostly): compiled once in a plain environment.
fn eval_native(op: &'static str, args: &[Value]) -> Result<Value, Error> {
    const SOURCES: [&str; 4] = ["a + b", "a * b", "a in b", "a[b:c:d]"];
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    static OPS: OnceLock<Vec<Option<Expression<'static, 'static>>>> = OnceLock::new();
    let env = ENV.get_or_init(Environment::new);
    let ops = OPS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|source| env.compile_expression(source).ok())
            .collect()
    });
    let expr = SOURCES
        .iter()
        .position(|source| *source == op)
        .and_then(|i| ops.get(i))
        .and_then(Option::as_ref)
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "unknown operator"))?;
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    expr.eval(minijinja::context! { a => arg(0), b => arg(1), c => arg(2), d => arg(3) })
}

fn is_seq(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

fn pair(args: &[Value]) -> Result<(&Value, &Value), Error> {
    match args {
        [a, b] => Ok((a, b)),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            "an operator needs two operands",
        )),
    }
}

/// `a + b`.
fn add(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    let (a, b) = pair(args)?;
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        budget.fits((x.len() + y.len()) as u64)?;
        return Ok(Value::from([x, y].concat()));
    }
    if is_seq(a) && is_seq(b) {
        budget.weigh_all([a, b])?;
        let items: Vec<Value> = a.try_iter()?.chain(b.try_iter()?).collect();
        return Ok(Value::from(items));
    }
    budget.work(1)?;
    eval_native("a + b", args)
}

/// `a ~ b`: both printed, one after the other.
fn concat(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    let (a, b) = pair(args)?;
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        budget.fits((x.len() + y.len()) as u64)?;
        return Ok(Value::from([x, y].concat()));
    }
    let mut text = display(budget, a)?;
    text.push_str(&display(budget, b)?);
    budget.fits(text.len() as u64)?;
    Ok(Value::from(text))
}

/// `a * b`: a string or a list repeated, or numbers multiplied.
fn mul(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    let (a, b) = pair(args)?;
    let repeated = match (a.kind(), b.kind()) {
        (ValueKind::Number, _) => Some((b, a)),
        (_, ValueKind::Number) => Some((a, b)),
        _ => None,
    };
    if let Some((item, count)) = repeated
        && (item.as_str().is_some() || is_seq(item))
    {
        let times = count.as_usize().unwrap_or(0) as u64;
        let one = budget.weigh(item)?;
        budget.fits(one.saturating_mul(times))?;
    } else {
        budget.work(1)?;
    }
    eval_native("a * b", args)
}

/// `a in b`.
fn contains(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    budget.weigh_all(args)?;
    eval_native("a in b", args)
}

/// A comparison: both sides weighed first (comparing walks them).
fn compare(
    budget: &Budget,
    args: &[Value],
    op: fn(&Value, &Value) -> bool,
) -> Result<Value, Error> {
    let (a, b) = pair(args)?;
    budget.weigh_all([a, b])?;
    Ok(Value::from(op(a, b)))
}

/// A list literal (also the VM's argument lists).
fn list(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    budget.weigh_all(args)?;
    Ok(Value::from(args.to_vec()))
}

/// A map literal: keys and values, alternating.
fn map(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    budget.weigh_all(args)?;
    Ok(args
        .chunks(2)
        .filter_map(|kv| match kv {
            [k, v] => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect())
}

/// Keyword arguments: names and values, alternating.
fn kwargs(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    budget.weigh_all(args)?;
    let mut pairs = Vec::with_capacity(args.len() / 2);
    for kv in args.chunks(2) {
        if let [k, v] = kv {
            let name = k.as_str().ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    "non string keys passed to kwargs",
                )
            })?;
            pairs.push((name.to_owned(), v.clone()));
        }
    }
    Ok(Value::from(pairs.into_iter().collect::<Kwargs>()))
}

/// `a[b]`: indexing a string walks its characters, an iterable its items.
fn item(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    let (container, key) = pair(args)?;
    let walked = match container.kind() {
        ValueKind::Iterable => key.as_usize().unwrap_or(0) as u64,
        _ => 0,
    };
    budget.shallow(std::slice::from_ref(container), false)?;
    budget.work(walked)?;
    container.get_item(key)
}

/// `a[b:c:d]`.
fn slice(budget: &Budget, args: &[Value]) -> Result<Value, Error> {
    budget.shallow(args.get(..1).unwrap_or_default(), true)?;
    if let Some(container) = args.first()
        && container.kind() == ValueKind::Iterable
    {
        budget.weigh(container)?;
    }
    eval_native("a[b:c:d]", args)
}

/// Registers the checked operations the patched instructions call.
pub(crate) fn add_operations(env: &mut Environment<'_>, budget: &Arc<Budget>) {
    env.add_function(super::guard::NUMBER, |n: Value| n);
    type Op = fn(&Budget, &[Value]) -> Result<Value, Error>;
    let ops: [(&'static str, Op); 15] = [
        (ADD, add),
        (CONCAT, concat),
        (MUL, mul),
        (IN, contains),
        (LIST, list),
        (MAP, map),
        (KWARGS, kwargs),
        (ITEM, item),
        (SLICE, slice),
        (EQ, |b, args| compare(b, args, |x, y| x == y)),
        (NE, |b, args| compare(b, args, |x, y| x != y)),
        (LT, |b, args| compare(b, args, |x, y| x < y)),
        (LTE, |b, args| compare(b, args, |x, y| x <= y)),
        (GT, |b, args| compare(b, args, |x, y| x > y)),
        (GTE, |b, args| compare(b, args, |x, y| x >= y)),
    ];
    for (name, op) in ops {
        let budget = budget.clone();
        env.add_function(name, move |args: Rest<Value>| op(&budget, &args));
    }
}

/// What a builtin's arguments are charged before it runs.
#[derive(Clone, Copy)]
enum Price {
    /// A look at its arguments: a string's bytes, a word for a container.
    Top,
    /// Its arguments' top-level items (it copies them into its result).
    Copies,
    /// Everything in its arguments (it sorts, compares or prints them).
    Walks,
    /// Its own bound on the result, checked before it runs.
    Bounded(fn(&Budget, &[Value]) -> Result<(), Error>),
}

/// Every builtin filter of minijinja 2, with its price. A filter missing here
/// keeps minijinja's unchecked version: the test below lists them all.
fn filters() -> Vec<(&'static str, Value, Price)> {
    use Price::{Bounded, Copies, Top, Walks};
    use minijinja::filters as f;
    vec![
        ("safe", Value::from_function(f::safe), Top),
        ("escape", Value::from_function(f::escape), Walks),
        ("e", Value::from_function(f::escape), Walks),
        ("lower", Value::from_function(f::lower), Top),
        ("upper", Value::from_function(f::upper), Top),
        ("title", Value::from_function(f::title), Top),
        ("capitalize", Value::from_function(f::capitalize), Top),
        (
            "replace",
            Value::from_function(f::replace),
            Bounded(replace_bound),
        ),
        ("length", Value::from_function(f::length), Top),
        ("count", Value::from_function(f::length), Top),
        ("dictsort", Value::from_function(f::dictsort), Walks),
        ("items", Value::from_function(f::items), Copies),
        ("reverse", Value::from_function(f::reverse), Walks),
        ("trim", Value::from_function(f::trim), Top),
        ("join", Value::from_function(f::join), Bounded(join_bound)),
        ("split", Value::from_function(f::split), Top),
        ("lines", Value::from_function(f::lines), Top),
        ("default", Value::from_function(f::default), Top),
        ("d", Value::from_function(f::default), Top),
        ("round", Value::from_function(f::round), Top),
        ("abs", Value::from_function(f::abs), Top),
        ("int", Value::from_function(f::int), Top),
        ("float", Value::from_function(f::float), Top),
        ("attr", Value::from_function(f::attr), Top),
        ("first", Value::from_function(f::first), Top),
        ("last", Value::from_function(f::last), Copies),
        ("min", Value::from_function(f::min), Walks),
        ("max", Value::from_function(f::max), Walks),
        ("sort", Value::from_function(f::sort), Walks),
        ("list", Value::from_function(f::list), Walks),
        ("string", Value::from_function(f::string), Walks),
        ("bool", Value::from_function(f::bool), Top),
        (
            "batch",
            Value::from_function(f::batch),
            Bounded(batch_bound),
        ),
        (
            "slice",
            Value::from_function(f::slice),
            Bounded(batch_bound),
        ),
        ("sum", Value::from_function(f::sum), Walks),
        (
            "indent",
            Value::from_function(f::indent),
            Bounded(indent_bound),
        ),
        ("select", Value::from_function(f::select), Copies),
        ("reject", Value::from_function(f::reject), Copies),
        ("selectattr", Value::from_function(f::selectattr), Copies),
        ("rejectattr", Value::from_function(f::rejectattr), Copies),
        ("map", Value::from_function(f::map), Copies),
        ("groupby", Value::from_function(f::groupby), Walks),
        ("unique", Value::from_function(f::unique), Walks),
        ("chain", Value::from_function(f::chain), Walks),
        ("zip", Value::from_function(f::zip), Walks),
        ("pprint", Value::from_function(f::pprint), Walks),
        (
            "format",
            Value::from_function(f::format),
            Bounded(format_bound),
        ),
    ]
}

/// The tests that compare whole values; the others look at the top only.
const COMPARING_TESTS: &[&str] = &[
    "eq",
    "equalto",
    "==",
    "ne",
    "!=",
    "lt",
    "lessthan",
    "<",
    "le",
    "<=",
    "gt",
    "greaterthan",
    ">",
    "ge",
    ">=",
    "in",
];

/// Every builtin test of minijinja 2.
fn tests() -> Vec<(&'static str, Value)> {
    use minijinja::tests as t;
    vec![
        ("undefined", Value::from_function(t::is_undefined)),
        ("defined", Value::from_function(t::is_defined)),
        ("none", Value::from_function(t::is_none)),
        ("safe", Value::from_function(t::is_safe)),
        ("escaped", Value::from_function(t::is_safe)),
        ("boolean", Value::from_function(t::is_boolean)),
        ("odd", Value::from_function(t::is_odd)),
        ("even", Value::from_function(t::is_even)),
        ("divisibleby", Value::from_function(t::is_divisibleby)),
        ("number", Value::from_function(t::is_number)),
        ("integer", Value::from_function(t::is_integer)),
        ("int", Value::from_function(t::is_integer)),
        ("float", Value::from_function(t::is_float)),
        ("string", Value::from_function(t::is_string)),
        ("sequence", Value::from_function(t::is_sequence)),
        ("iterable", Value::from_function(t::is_iterable)),
        ("mapping", Value::from_function(t::is_mapping)),
        ("startingwith", Value::from_function(t::is_startingwith)),
        ("endingwith", Value::from_function(t::is_endingwith)),
        ("lower", Value::from_function(t::is_lower)),
        ("upper", Value::from_function(t::is_upper)),
        ("sameas", Value::from_function(t::is_sameas)),
        ("eq", Value::from_function(t::is_eq)),
        ("equalto", Value::from_function(t::is_eq)),
        ("==", Value::from_function(t::is_eq)),
        ("ne", Value::from_function(t::is_ne)),
        ("!=", Value::from_function(t::is_ne)),
        ("lt", Value::from_function(t::is_lt)),
        ("lessthan", Value::from_function(t::is_lt)),
        ("<", Value::from_function(t::is_lt)),
        ("le", Value::from_function(t::is_le)),
        ("<=", Value::from_function(t::is_le)),
        ("gt", Value::from_function(t::is_gt)),
        ("greaterthan", Value::from_function(t::is_gt)),
        (">", Value::from_function(t::is_gt)),
        ("ge", Value::from_function(t::is_ge)),
        (">=", Value::from_function(t::is_ge)),
        ("in", Value::from_function(t::is_in)),
        ("true", Value::from_function(t::is_true)),
        ("false", Value::from_function(t::is_false)),
        ("filter", Value::from_function(t::is_filter)),
        ("test", Value::from_function(t::is_test)),
    ]
}

/// Puts every builtin filter and test behind its price, wraps `dict()` and
/// `namespace()` the same way, and removes `debug()` (it prints the whole
/// context, shared values and all).
pub(crate) fn guard_builtins(env: &mut Environment<'_>, budget: &Arc<Budget>) {
    for (name, builtin, price) in filters() {
        let budget = budget.clone();
        env.add_filter(name, move |state: &State, args: Rest<Value>| {
            match price {
                Price::Top => budget.shallow(&args, false)?,
                Price::Copies => budget.shallow(&args, true)?,
                Price::Walks => {
                    budget.weigh_all(args.iter())?;
                }
                Price::Bounded(bound) => bound(&budget, &args)?,
            }
            let out = builtin.call(state, &args)?;
            if matches!(price, Price::Walks | Price::Bounded(_)) {
                budget.weigh(&out)?;
            }
            Ok(out)
        });
    }
    for (name, builtin) in tests() {
        let budget = budget.clone();
        let walks = COMPARING_TESTS.contains(&name);
        env.add_test(name, move |state: &State, args: Rest<Value>| {
            if walks {
                budget.weigh_all(args.iter())?;
            } else {
                budget.shallow(&args, false)?;
            }
            Ok(builtin.call(state, &args)?.is_true())
        });
    }
    let functions = [
        ("dict", Value::from_function(minijinja::functions::dict)),
        (
            "namespace",
            Value::from_function(minijinja::functions::namespace),
        ),
    ];
    for (name, builtin) in functions {
        let budget = budget.clone();
        env.add_function(name, move |state: &State, args: Rest<Value>| {
            budget.weigh_all(args.iter())?;
            builtin.call(state, &args)
        });
    }
    env.add_function("debug", || -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "debug() is not available in chat templates",
        ))
    });
}

/// `value|join(sep)`: the items plus a separator between each two.
fn join_bound(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let value = args.first().cloned().unwrap_or_default();
    let sep = args.get(1).and_then(Value::as_str).map_or(0, str::len) as u64;
    let items = budget.weigh(&value)?;
    // At most one item per word of weight.
    budget.fits(items.saturating_add(sep.saturating_mul(items / WORD + 1)))
}

/// `value|replace(from, to)`.
fn replace_bound(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let text = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or_default();
    budget.fits(replaced_len(text(0), text(1), text(2)))
}

/// `format|format(args…)`.
fn format_bound(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let format = args.first().and_then(Value::as_str).unwrap_or_default();
    check_format(budget, format, args.get(1..).unwrap_or_default())
}

/// `value|indent(width=4, first=False, blank=False)`, positionally or by name.
fn indent_bound(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let text = args.first().and_then(Value::as_str).unwrap_or_default();
    let width = args
        .get(1)
        .filter(|a| !a.is_kwargs())
        .and_then(Value::as_usize)
        .or_else(|| {
            args.last()
                .filter(|a| a.is_kwargs())
                .and_then(|k| k.get_attr("width").ok())
                .and_then(|w| w.as_usize())
        })
        .unwrap_or(4) as u64;
    let lines = text.lines().count() as u64 + 1;
    budget.fits((text.len() as u64).saturating_add(width.saturating_mul(lines)))
}

/// `value|batch(n, fill)` and `value|slice(n, fill)`: `n` groups, each padded
/// with the fill value.
fn batch_bound(budget: &Budget, args: &[Value]) -> Result<(), Error> {
    let count = args.get(1).and_then(Value::as_usize).unwrap_or(0) as u64;
    let size = budget.weigh_all(args.iter())?;
    budget.fits(size.saturating_add(count.saturating_mul(WORD)))
}

/// Python methods (minijinja-contrib's `pycompat`): charged like a shallow
/// filter, and the string methods that amplify (`replace`, `format`, `join`)
/// checked against their bound before they run.
pub(crate) fn check_method(
    budget: &Budget,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<(), Error> {
    budget.shallow(std::slice::from_ref(value), false)?;
    budget.shallow(args, false)?;
    let Some(text) = value.as_str() else {
        return Ok(());
    };
    let arg = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or_default();
    match method {
        "replace" => budget.fits(replaced_len(text, arg(0), arg(1))),
        "format" => check_format(budget, text, args),
        "join" => {
            let items = budget.weigh_all(args.iter())?;
            let sep = text.len() as u64;
            budget.fits(items.saturating_add(sep.saturating_mul(items / WORD + 1)))
        }
        _ => Ok(()),
    }
}

/// The most `value` can grow to with every `from` replaced by `to`, without
/// scanning it: as if every `from`-long stretch of it matched (an empty
/// `from` matches between every two bytes and at both ends).
pub(crate) fn replaced_len(value: &str, from: &str, to: &str) -> u64 {
    let len = value.len() as u64;
    let times = match from.len() as u64 {
        0 => len + 1,
        n => len / n,
    };
    len.saturating_add(times.saturating_mul(to.len() as u64))
}

/// A `format` / `str.format` call: every width or precision in the format
/// string is a number of bytes it may produce, checked before the formatting
/// allocates them.
pub(crate) fn check_format(budget: &Budget, format: &str, args: &[Value]) -> Result<(), Error> {
    let mut largest: u64 = 0;
    let mut digits: u64 = 0;
    for c in format.chars() {
        if let Some(d) = c.to_digit(10) {
            digits = digits.saturating_mul(10).saturating_add(u64::from(d));
            largest = largest.max(digits);
        } else {
            digits = 0;
        }
    }
    let fields = format.matches(['%', '{']).count() as u64;
    let input = budget.weigh_all(args.iter())?;
    budget.fits(
        (format.len() as u64)
            .saturating_add(input)
            .saturating_add(largest.saturating_mul(fields.max(1))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::guard::Limits;

    fn budget() -> Budget {
        Budget::new(Limits {
            max_bytes: 1000,
            max_depth: 4,
            max_items: 50,
            ..Limits::default()
        })
    }

    #[test]
    fn weighing_stops_at_the_item_limit() {
        let b = budget();
        let many = Value::from((0..40).collect::<Vec<i32>>());
        assert!(b.weigh(&many).is_ok());
        let two = Value::from(vec![many.clone(), many]);
        assert!(b.weigh(&two).is_err(), "82 items over a limit of 50");
    }

    #[test]
    fn weighing_counts_shared_items_each_time() {
        let b = budget();
        let leaf = Value::from("x".repeat(100));
        let two = Value::from(vec![leaf.clone(), leaf.clone()]);
        assert_eq!(b.weigh(&two).unwrap(), WORD + 200);
        let four = Value::from(vec![two.clone(), two.clone()]);
        assert_eq!(b.weigh(&four).unwrap(), WORD * 3 + 400);
        let sixteen = Value::from(vec![four.clone(), four.clone(), four.clone(), four]);
        assert!(
            b.weigh(&sixteen).is_err(),
            "1600 bytes over a 1000-byte limit"
        );
    }

    #[test]
    fn weighing_stops_at_the_depth_limit() {
        let b = budget();
        let mut v = Value::from(1);
        for _ in 0..3 {
            v = Value::from(vec![v]);
        }
        assert!(b.weigh(&v).is_ok());
        let deeper = Value::from(vec![Value::from(vec![v])]);
        assert!(b.weigh(&deeper).is_err());
    }

    #[test]
    fn replace_and_format_bounds() {
        assert_eq!(replaced_len("aaa", "a", "bb"), 3 + 6);
        assert_eq!(replaced_len("ab", "", "-"), 2 + 3);
        // An upper bound: "abab" has two "ab", the bound assumes two.
        assert_eq!(replaced_len("abab", "ab", "xyz"), 4 + 6);
        let b = budget();
        assert!(check_format(&b, "%5d|{:>3}", &[Value::from(1)]).is_ok());
        assert!(check_format(&b, "%0999999999999d", &[Value::from(1)]).is_err());
    }

    /// Every filter and test minijinja registers is in the tables above (a
    /// new one in an update must be priced before it can be used).
    #[test]
    fn every_builtin_is_priced() {
        let env = Environment::new();
        let priced: Vec<&str> = filters().iter().map(|(name, _, _)| *name).collect();
        let mut missing = Vec::new();
        for name in minijinja_builtin_filters() {
            if !priced.contains(&name) && name != "tojson" && name != "urlencode" {
                missing.push(name);
            }
        }
        assert!(missing.is_empty(), "unpriced filters: {missing:?}");
        let tested: Vec<&str> = tests().iter().map(|(name, _)| *name).collect();
        for probe in ["eq", "in", "odd", "defined", "startingwith"] {
            assert!(tested.contains(&probe));
        }
        drop(env);
    }

    /// The builtin filter names, read from what a plain environment renders.
    fn minijinja_builtin_filters() -> Vec<&'static str> {
        let env = Environment::new();
        FILTER_NAMES
            .iter()
            .copied()
            .filter(|name| {
                let source = format!("{{{{ 1 is filter('{name}') }}}}");
                env.render_str(&source, ()).is_ok_and(|out| out == "true")
            })
            .collect()
    }

    /// Every filter name minijinja 2 has ever had, to probe for.
    const FILTER_NAMES: &[&str] = &[
        "safe",
        "escape",
        "e",
        "lower",
        "upper",
        "title",
        "capitalize",
        "replace",
        "length",
        "count",
        "dictsort",
        "items",
        "reverse",
        "trim",
        "join",
        "split",
        "lines",
        "default",
        "d",
        "round",
        "abs",
        "int",
        "float",
        "attr",
        "first",
        "last",
        "min",
        "max",
        "sort",
        "list",
        "string",
        "bool",
        "batch",
        "slice",
        "sum",
        "indent",
        "select",
        "reject",
        "selectattr",
        "rejectattr",
        "map",
        "groupby",
        "unique",
        "chain",
        "zip",
        "pprint",
        "format",
        "tojson",
        "urlencode",
        "wordcount",
        "wordwrap",
        "center",
        "truncate",
        "striptags",
        "filesizeformat",
        "xmlattr",
        "random",
        "forceescape",
        "mark_safe",
    ];
}
