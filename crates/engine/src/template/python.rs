//! Python behaviour the Hugging Face chat-template environment relies on, written
//! for minijinja: `str()` of values when printed (`True`, `None`, `['a', 1]`),
//! `json.dumps` as transformers' `tojson` filter calls it, and
//! `datetime.strftime` for `strftime_now`.
//!
//! Learned from the Python documentation of `json.dumps`, `repr` and
//! `strftime`; written for Hearth.

use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};

/// Options of Python's `json.dumps` that HF's `tojson` exposes.
#[derive(Debug, Clone)]
pub(crate) struct JsonOptions {
    pub(crate) ensure_ascii: bool,
    /// `None`: one line; `Some(n)`: newline and `n` spaces per level.
    pub(crate) indent: Option<String>,
    pub(crate) item_separator: String,
    pub(crate) key_separator: String,
    pub(crate) sort_keys: bool,
}

impl JsonOptions {
    /// Python's defaults for a given indent: `", "` between items on one line,
    /// `","` when indented, `": "` between key and value.
    pub(crate) fn new(indent: Option<String>) -> Self {
        let item_separator = if indent.is_some() { "," } else { ", " };
        Self {
            ensure_ascii: false,
            indent,
            item_separator: item_separator.into(),
            key_separator: ": ".into(),
            sort_keys: false,
        }
    }
}

/// How much text printing a value may produce, and how deep into nested
/// values it may go (a template's values can be shared, cyclic or deep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Room {
    pub(crate) bytes: usize,
    pub(crate) depth: usize,
    /// Container items printed, shared ones counted each time.
    pub(crate) items: u64,
}

/// Why a value was not printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// What Python would raise.
    Error(String),
    /// More text than [`Room::bytes`] (checked after each item, so the text
    /// may pass the limit by one item).
    TooLong,
    /// Nested deeper than [`Room::depth`].
    TooDeep,
    /// More items than [`Room::items`].
    TooMany,
}

impl From<String> for Refused {
    fn from(message: String) -> Self {
        Self::Error(message)
    }
}

impl From<&str> for Refused {
    fn from(message: &str) -> Self {
        Self::Error(message.to_owned())
    }
}

/// Fails once `out` is past `room`, `level` past its depth or `items` past
/// its count.
fn check(out: &str, room: Room, level: usize, items: u64) -> Result<(), Refused> {
    if out.len() > room.bytes {
        return Err(Refused::TooLong);
    }
    if level > room.depth {
        return Err(Refused::TooDeep);
    }
    if items > room.items {
        return Err(Refused::TooMany);
    }
    Ok(())
}

/// `json.dumps(value, ...)`. Undefined values are an error, as in Python (where
/// jinja2's `Undefined` is not serialisable).
pub(crate) fn json_dumps(value: &Value, opts: &JsonOptions, room: Room) -> Result<String, Refused> {
    let mut out = String::new();
    write_json(&mut out, value, opts, 0, room, &mut 0)?;
    Ok(out)
}

fn write_json(
    out: &mut String,
    value: &Value,
    opts: &JsonOptions,
    level: usize,
    room: Room,
    items: &mut u64,
) -> Result<(), Refused> {
    *items += 1;
    check(out, room, level, *items)?;
    match value.kind() {
        ValueKind::Undefined => {
            return Err("Object of type Undefined is not JSON serializable".into());
        }
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(out, value, true),
        ValueKind::String | ValueKind::Bytes => {
            write_json_str(out, value.as_str().unwrap_or_default(), opts.ensure_ascii)
        }
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Plain => {
            let values: Vec<Value> = value.try_iter().map_err(|e| e.to_string())?.collect();
            write_container(out, '[', ']', values.len(), opts, level, |out, i| {
                write_json(out, &values[i], opts, level + 1, room, items)?;
                check(out, room, level, *items)
            })?;
        }
        ValueKind::Map => {
            let mut entries: Vec<(Value, Value)> = Vec::new();
            for key in value.try_iter().map_err(|e| e.to_string())? {
                let item = value.get_item(&key).map_err(|e| e.to_string())?;
                entries.push((key, item));
            }
            if opts.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            write_container(out, '{', '}', entries.len(), opts, level, |out, i| {
                let (key, item) = &entries[i];
                match key.kind() {
                    ValueKind::String => {
                        write_json_str(out, key.as_str().unwrap_or_default(), opts.ensure_ascii)
                    }
                    ValueKind::Number => {
                        out.push('"');
                        write_number(out, key, true);
                        out.push('"');
                    }
                    ValueKind::Bool => out.push_str(if key.is_true() {
                        "\"true\""
                    } else {
                        "\"false\""
                    }),
                    ValueKind::None => out.push_str("\"null\""),
                    _ => {
                        return Err(Refused::Error(format!(
                            "keys must be str, int, float, bool or None, not {}",
                            key.kind()
                        )));
                    }
                }
                out.push_str(&opts.key_separator);
                write_json(out, item, opts, level + 1, room, items)?;
                check(out, room, level, *items)
            })?;
        }
        _ => {
            return Err(Refused::Error(format!(
                "Object of type {} is not JSON serializable",
                value.kind()
            )));
        }
    }
    Ok(())
}

fn write_container(
    out: &mut String,
    open: char,
    close: char,
    len: usize,
    opts: &JsonOptions,
    level: usize,
    mut item: impl FnMut(&mut String, usize) -> Result<(), Refused>,
) -> Result<(), Refused> {
    out.push(open);
    if len == 0 {
        out.push(close);
        return Ok(());
    }
    for i in 0..len {
        if i > 0 {
            out.push_str(&opts.item_separator);
        }
        if let Some(indent) = &opts.indent {
            out.push('\n');
            for _ in 0..=level {
                out.push_str(indent);
            }
        }
        item(out, i)?;
    }
    if let Some(indent) = &opts.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(indent);
        }
    }
    out.push(close);
    Ok(())
}

fn write_json_str(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number as Python prints it: integers plainly, floats with `repr` (`1.0`,
/// `1e+20`). `json` spells non-finite floats `NaN`/`Infinity`, `str()` `nan`/`inf`.
fn write_number(out: &mut String, value: &Value, json: bool) {
    if let Some(f) = value_as_float(value) {
        out.push_str(&float_repr(f, json));
    } else {
        let _ = write!(out, "{value}");
    }
}

fn value_as_float(value: &Value) -> Option<f64> {
    // Integers (including i128/u128) print through minijinja's own Display.
    if value.is_integer() {
        return None;
    }
    f64::try_from(value.clone()).ok()
}

/// Python's `repr(float)`: the shortest round-tripping digits, in positional
/// notation for exponents -4..16 and scientific (`1e+16`, `1.5e-05`) outside.
pub(crate) fn float_repr(f: f64, json: bool) -> String {
    if f.is_nan() {
        return if json { "NaN" } else { "nan" }.into();
    }
    if f.is_infinite() {
        let s = if json { "Infinity" } else { "inf" };
        return if f < 0.0 { format!("-{s}") } else { s.into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: "1.5e-5".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let plain = format!("{f}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// Python's `str(value)`, which is what jinja2 prints for `{{ value }}`.
pub(crate) fn python_str(out: &mut String, value: &Value, room: Room) -> Result<(), Refused> {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::String => out.push_str(value.as_str().unwrap_or_default()),
        _ => python_repr(out, value, room, 0, &mut 0)?,
    }
    check(out, room, 0, 0)
}

/// Python's `repr(value)`: what `str()` of a container shows for its items.
fn python_repr(
    out: &mut String,
    value: &Value,
    room: Room,
    level: usize,
    items: &mut u64,
) -> Result<(), Refused> {
    *items += 1;
    check(out, room, level, *items)?;
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => write_number(out, value, false),
        ValueKind::String => repr_str(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            out.push('[');
            if let Ok(iter) = value.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    python_repr(out, &item, room, level + 1, items)?;
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(iter) = value.try_iter() {
                for (i, key) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    python_repr(out, &key, room, level + 1, items)?;
                    out.push_str(": ");
                    if let Ok(item) = value.get_item(&key) {
                        python_repr(out, &item, room, level + 1, items)?;
                    }
                }
            }
            out.push('}');
        }
        _ => {
            // minijinja's own text for other objects (iterables, macros),
            // cut off where the room ends.
            let mut text = super::checked::Capped::new(room.bytes.saturating_sub(out.len()));
            if write!(text, "{value}").is_err() && text.overflowed {
                return Err(Refused::TooLong);
            }
            out.push_str(&text.text);
        }
    }
    Ok(())
}

fn repr_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let code = c as u32;
                let _ = match code {
                    0..=0xff => write!(out, "\\x{code:02x}"),
                    0x100..=0xffff => write!(out, "\\u{code:04x}"),
                    _ => write!(out, "\\U{code:08x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable` for one character, approximated: controls,
/// separators other than the ASCII space, and the common format characters
/// (zero-width and direction marks, BOM) are not printable.
fn is_printable(c: char) -> bool {
    !matches!(c as u32,
        0..=0x1f | 0x7f..=0xa0 | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f
        | 0x1680 | 0x180e | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064
        | 0x2066..=0x206f | 0x3000 | 0xd800..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0xe0000..=0x10ffff)
}

/// A moment in UTC, broken down for `strftime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Monday, as Python's `weekday()`.
    weekday: u32,
    /// 1-based day of the year.
    yday: u32,
}

impl DateTime {
    /// The UTC calendar date and time of a Unix timestamp (days-from-civil
    /// arithmetic on the proleptic Gregorian calendar).
    pub(crate) fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        const CUMULATIVE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = CUMULATIVE[(month - 1) as usize] + day + u32::from(leap && month > 2);
        Self {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            // 1970-01-01 was a Thursday (3).
            weekday: (days + 3).rem_euclid(7) as u32,
            yday,
        }
    }

    /// Python's `strftime` in the C locale for the common directives; unknown
    /// directives are copied through, as glibc does.
    pub(crate) fn strftime(&self, format: &str) -> String {
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        const DAYS: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        let month = MONTHS[(self.month - 1) as usize % 12];
        let weekday = DAYS[self.weekday as usize % 7];
        let hour12 = if self.hour.is_multiple_of(12) {
            12
        } else {
            self.hour % 12
        };
        let mut out = String::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(d) = chars.next() else {
                out.push('%');
                break;
            };
            let _ = match d {
                'Y' => write!(out, "{}", self.year),
                'y' => write!(out, "{:02}", self.year.rem_euclid(100)),
                'm' => write!(out, "{:02}", self.month),
                'd' => write!(out, "{:02}", self.day),
                'e' => write!(out, "{:2}", self.day),
                'B' => write!(out, "{month}"),
                'b' | 'h' => write!(out, "{}", &month[..3]),
                'A' => write!(out, "{weekday}"),
                'a' => write!(out, "{}", &weekday[..3]),
                'H' => write!(out, "{:02}", self.hour),
                'I' => write!(out, "{hour12:02}"),
                'M' => write!(out, "{:02}", self.minute),
                'S' => write!(out, "{:02}", self.second),
                'p' => write!(out, "{}", if self.hour < 12 { "AM" } else { "PM" }),
                'j' => write!(out, "{:03}", self.yday),
                'w' => write!(out, "{}", (self.weekday + 1) % 7),
                'u' => write!(out, "{}", self.weekday + 1),
                'F' => write!(out, "{}-{:02}-{:02}", self.year, self.month, self.day),
                'T' => write!(
                    out,
                    "{:02}:{:02}:{:02}",
                    self.hour, self.minute, self.second
                ),
                'n' => writeln!(out),
                't' => write!(out, "\t"),
                '%' => write!(out, "%"),
                other => write!(out, "%{other}"),
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Room = Room {
        bytes: 1 << 20,
        depth: 64,
        items: 1 << 20,
    };

    fn dumps(v: Value, indent: Option<&str>) -> String {
        json_dumps(&v, &JsonOptions::new(indent.map(String::from)), ROOMY).unwrap()
    }

    #[test]
    fn json_matches_python_defaults() {
        let v = Value::from_iter([
            ("name", Value::from("café \"x\"\n")),
            ("n", Value::from(3)),
            ("f", Value::from(1.0)),
            (
                "list",
                Value::from(vec![Value::from(true), Value::from(())]),
            ),
            ("empty", Value::from(Vec::<Value>::new())),
        ]);
        assert_eq!(
            dumps(v.clone(), None),
            r#"{"name": "café \"x\"\n", "n": 3, "f": 1.0, "list": [true, null], "empty": []}"#
        );
        assert_eq!(
            dumps(
                Value::from_iter([("a", Value::from(vec![1, 2]))]),
                Some("  ")
            ),
            "{\n  \"a\": [\n    1,\n    2\n  ]\n}"
        );
    }

    #[test]
    fn json_ensure_ascii_uses_surrogate_pairs() {
        let mut opts = JsonOptions::new(None);
        opts.ensure_ascii = true;
        assert_eq!(
            json_dumps(&Value::from("é😀"), &opts, ROOMY).unwrap(),
            r#""\u00e9\ud83d\ude00""#
        );
    }

    #[test]
    fn floats_print_like_python_repr() {
        assert_eq!(float_repr(1.0, false), "1.0");
        assert_eq!(float_repr(0.1, false), "0.1");
        assert_eq!(float_repr(1e16, false), "1e+16");
        assert_eq!(float_repr(1.5e-5, false), "1.5e-05");
        assert_eq!(float_repr(123456.5, false), "123456.5");
        assert_eq!(float_repr(f64::NAN, true), "NaN");
    }

    #[test]
    fn str_of_values_is_pythons() {
        let mut out = String::new();
        let v = Value::from(vec![
            Value::from("it's"),
            Value::from(true),
            Value::from(()),
            Value::from(2),
        ]);
        python_str(&mut out, &v, ROOMY).unwrap();
        assert_eq!(out, r#"["it's", True, None, 2]"#);
    }

    #[test]
    fn printing_stops_at_the_room_and_the_depth() {
        let mut v = Value::from("x".repeat(10));
        for _ in 0..10 {
            v = Value::from(vec![v.clone(), v]);
        }
        let small = Room {
            bytes: 1000,
            depth: 64,
            items: 1 << 20,
        };
        let mut out = String::new();
        assert_eq!(python_str(&mut out, &v, small), Err(Refused::TooLong));
        assert!(out.len() < 1000 + 100, "{}", out.len());
        let opts = JsonOptions::new(None);
        assert_eq!(json_dumps(&v, &opts, small), Err(Refused::TooLong));
        let shallow = Room {
            bytes: 1 << 20,
            depth: 5,
            items: 1 << 20,
        };
        assert_eq!(json_dumps(&v, &opts, shallow), Err(Refused::TooDeep));
        let mut out = String::new();
        assert_eq!(python_str(&mut out, &v, shallow), Err(Refused::TooDeep));
        let few = Room {
            bytes: 1 << 20,
            depth: 64,
            items: 100,
        };
        assert_eq!(json_dumps(&v, &opts, few), Err(Refused::TooMany));
    }

    #[test]
    fn strftime_known_dates() {
        // 2024-07-26 00:00:00 UTC, a Friday.
        let d = DateTime::from_unix(1_721_952_000);
        assert_eq!(d.strftime("%d %b %Y"), "26 Jul 2024");
        assert_eq!(
            d.strftime("%A %B %j %% %Y-%m-%d %H:%M:%S"),
            "Friday July 208 % 2024-07-26 00:00:00"
        );
        // 2000-02-29 13:05:09 UTC, a Tuesday.
        let d = DateTime::from_unix(951_829_509);
        assert_eq!(
            d.strftime("%F %T %a %I%p %y"),
            "2000-02-29 13:05:09 Tue 01PM 00"
        );
        assert_eq!(
            DateTime::from_unix(0).strftime("%a %d %b %Y"),
            "Thu 01 Jan 1970"
        );
    }
}
