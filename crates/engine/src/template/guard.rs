//! Rendering a chat template that may be hostile: every render has a budget,
//! and a template that goes over it stops with
//! [`EngineError::TemplateTooExpensive`] instead of taking the machine down.
//!
//! A GGUF's `tokenizer.chat_template` is code from whoever made the file, run
//! for every prompt. minijinja's own limits are not enough on their own:
//! fuel counts instructions, but one instruction can double a string
//! (`{% set ns.s = ns.s ~ ns.s %}`: 4 GiB after 32 steps), repeat a string
//! 100 MB long, or compare two lists whose shared items make them
//! exponentially large. So the compiled template is changed before it runs:
//!
//! - the instructions that build values (`+`, `~`, `*`, list, map and
//!   keyword-argument literals), compare them deeply (`==`, `!=`, `<`, `<=`,
//!   `>`, `>=`, `in`) or index and slice them become calls to checked
//!   versions ([`super::checked`]) that weigh their operands, refuse a result
//!   over [`Limits::max_bytes`] and charge the work they do against
//!   [`Limits::max_work`] (same stack effect, same place, so jumps and error
//!   locations stay right);
//! - every builtin filter and test, and the Python methods, are charged the
//!   same way, and those that amplify (`replace`, `join`, `format`,
//!   `indent`, `batch`…) are checked against their own bound before they
//!   run; what a template prints (`{{ … }}`, captures included) is counted
//!   against [`Limits::max_bytes`];
//! - text written out literally (outside `{{ }}`) is not seen by any of
//!   that, so where it sits in a loop or macro the fuel is lowered until that
//!   text repeated once per instruction still fits the same budget;
//! - fuel ([`Limits::fuel`]), a recursion limit and a wall-clock deadline
//!   bound the rest, and the render runs on a thread of its own with a large
//!   stack, so deeply nested values cannot overflow the caller's;
//! - before any of that, the compiler would fold constant expressions such
//!   as `'x' * 100000000 ~ 'x' * 100000000` into one value while compiling,
//!   where nothing is checked: every integer literal is wrapped in an
//!   identity function first ([`unfold_numbers`]), so a repetition is never a
//!   constant and runs, checked, at render time.
//!
//! This uses minijinja's `unstable_machinery` (the compiled instructions and
//! the VM); `Cargo.lock` pins the version, and the tests in this module and
//! `tests/it/template.rs` (every fixture rendered as jinja2 renders it, every
//! bomb stopped) fail if an update changes what the patching relies on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use minijinja::machinery::{CompiledTemplate, Instruction, Instructions, TemplateConfig, Vm};
use minijinja::machinery::{Token, WhitespaceConfig, make_string_output, tokenize};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind};

use crate::error::EngineError;

/// What one render may cost. The defaults leave real templates (hundreds of
/// messages, tool definitions) a wide margin, measured in this module's
/// tests, and stop the known bombs in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Instructions executed (minijinja fuel), before the adjustment for
    /// literal text in loops.
    pub fuel: u64,
    /// Largest value a template may build, and most text it may print.
    pub max_bytes: u64,
    /// Literal text (outside `{{ }}`) written from inside loops and macros.
    pub max_repeated_text: u64,
    /// Deepest nesting of lists and maps a template may build or print.
    pub max_depth: usize,
    /// Most items one value may hold, counting shared ones each time they
    /// are reached (what printing or comparing it walks).
    pub max_items: u64,
    /// Items looked at while weighing values, over the whole render.
    pub max_work: u64,
    /// minijinja's recursion limit (nested loops, blocks and macro calls).
    pub recursion: usize,
    /// Wall-clock time: a last resort behind the counters above, which stop
    /// every known bomb in a fraction of it.
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 2_000_000,
            max_bytes: 16 << 20,
            max_repeated_text: 64 << 20,
            max_depth: 64,
            max_items: 200_000,
            max_work: 4_000_000,
            recursion: 200,
            time: Duration::from_secs(2),
        }
    }
}

/// Largest template source Hearth compiles (real ones are a few KiB).
pub(crate) const MAX_SOURCE_BYTES: usize = 1 << 20;

/// Names the checked operations are registered under; a template may not
/// use the prefix itself.
pub(crate) const RESERVED_PREFIX: &str = "__hearth_";

/// The identity function integer literals are wrapped in.
pub(crate) const NUMBER: &str = "__hearth_number";

/// `source` with every integer literal `N` written `(__hearth_number(N))`, so
/// that no expression with a number in it is a compile-time constant (the
/// compiler folds constants without any of the checks). An integer after a
/// `.` (`items.0`) is an attribute and stays as it is.
pub(crate) fn unfold_numbers(source: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(source.len() + source.len() / 8);
    let mut copied = 0;
    let mut after_dot = false;
    let ws = WhitespaceConfig {
        keep_trailing_newline: false,
        lstrip_blocks: true,
        trim_blocks: true,
    };
    for token in tokenize(source, false, SyntaxConfig, ws) {
        let (token, span) = token?;
        let is_number = matches!(token, Token::Int(_) | Token::Int128(_));
        if is_number && !after_dot {
            let (start, end) = (span.start_offset as usize, span.end_offset as usize);
            let (Some(before), Some(number)) = (source.get(copied..start), source.get(start..end))
            else {
                return Err(Error::new(
                    ErrorKind::SyntaxError,
                    "a number's position is outside the template",
                ));
            };
            // Parenthesised: `-N` must stay the negation of the call
            // (minijinja binds `-f(x)` as `(-f)(x)`).
            out.push_str(before);
            out.push('(');
            out.push_str(NUMBER);
            out.push('(');
            out.push_str(number);
            out.push_str("))");
            copied = end;
        }
        after_dot = matches!(token, Token::Dot);
    }
    out.push_str(source.get(copied..).unwrap_or_default());
    Ok(out)
}

/// The stack size of the render thread: deep enough for values nested as
/// far as the fuel lets a template nest them (the VM, `Display` and `Drop`
/// all recurse into them).
const RENDER_STACK_BYTES: usize = 256 << 20;

/// What one render has used, shared by the checked operations.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) limits: Limits,
    deadline: Instant,
    work: std::sync::atomic::AtomicU64,
    printed: std::sync::atomic::AtomicU64,
    /// Why the render was stopped, for the error the caller sees.
    stopped: Mutex<Option<String>>,
}

impl Budget {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            deadline: Instant::now() + limits.time,
            work: Default::default(),
            printed: Default::default(),
            stopped: Mutex::new(None),
        }
    }

    /// Stops the render, remembering why (the first reason wins).
    pub(crate) fn stop(&self, why: impl Into<String>) -> Error {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        stopped.get_or_insert_with(|| why.into());
        Error::new(
            ErrorKind::InvalidOperation,
            "the chat template is too expensive",
        )
    }

    fn reason(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Charges `items` looked at; past [`Limits::max_work`] or the deadline,
    /// the render stops.
    pub(crate) fn work(&self, items: u64) -> Result<(), Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let done = self.work.fetch_add(items, Relaxed) + items;
        if done > self.limits.max_work {
            return Err(self.stop("looks at too many values"));
        }
        // The clock is read every few thousand items, not on every one.
        if done / 4096 != (done - items) / 4096 || items > 4096 {
            self.check_time()?;
        }
        Ok(())
    }

    pub(crate) fn check_time(&self) -> Result<(), Error> {
        if Instant::now() > self.deadline {
            return Err(self.stop(format!(
                "runs longer than {} ms",
                self.limits.time.as_millis()
            )));
        }
        Ok(())
    }

    /// Charges `bytes` printed by `{{ … }}`.
    pub(crate) fn print(&self, bytes: usize) -> Result<(), Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let bytes = bytes as u64;
        if self.printed.fetch_add(bytes, Relaxed) + bytes > self.limits.max_bytes {
            return Err(self.stop(format!("prints more than {}", mib(self.limits.max_bytes))));
        }
        Ok(())
    }

    /// How many more bytes may be printed.
    pub(crate) fn print_room(&self) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let left = self
            .limits
            .max_bytes
            .saturating_sub(self.printed.load(Relaxed));
        usize::try_from(left).unwrap_or(usize::MAX)
    }

    /// The error for a value of `bytes` (or more).
    pub(crate) fn too_big(&self, bytes: u64) -> Error {
        let _ = bytes;
        self.stop(format!(
            "builds a value larger than {}",
            mib(self.limits.max_bytes)
        ))
    }

    pub(crate) fn too_many(&self) -> Error {
        self.stop(format!(
            "builds a value of more than {} items",
            self.limits.max_items
        ))
    }

    pub(crate) fn too_deep(&self) -> Error {
        self.stop(format!(
            "nests values more than {} levels deep",
            self.limits.max_depth
        ))
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

/// The template settings transformers uses for chat templates.
pub(crate) fn config() -> TemplateConfig {
    TemplateConfig {
        syntax_config: SyntaxConfig,
        ws_config: WhitespaceConfig {
            keep_trailing_newline: false,
            lstrip_blocks: true,
            trim_blocks: true,
        },
        default_auto_escape: Arc::new(|_| AutoEscape::None),
    }
}

/// Renders `source` (already compiled once by the caller, so it is known to
/// parse) with `root` as its context, in `env` (set up by `make_env` with the
/// budget this render gets).
pub(crate) fn render(
    name: &str,
    source: &str,
    root: Value,
    limits: Limits,
    make_env: impl Fn(&Arc<Budget>) -> Environment<'static> + Sync,
) -> Result<String, EngineError> {
    let budget = Arc::new(Budget::new(limits));
    let mut compiled =
        CompiledTemplate::new(name, source, &config()).map_err(super::template_error)?;
    patch(&mut compiled.instructions);
    for block in compiled.blocks.values_mut() {
        patch(block);
    }
    let mut env = make_env(&budget);
    env.set_fuel(Some(fuel_for(&compiled, limits)));
    env.set_recursion_limit(limits.recursion);

    let run = || -> Result<String, Error> {
        let mut text = String::new();
        Vm::new(&env).eval(
            &compiled.instructions,
            root,
            &compiled.blocks,
            &mut make_string_output(&mut text),
            compiled.initial_auto_escape,
        )?;
        Ok(text)
    };
    let result = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("hearth-template".into())
            .stack_size(RENDER_STACK_BYTES)
            .spawn_scoped(scope, run)
            .map_err(|e| EngineError::Template(format!("cannot start the render thread: {e}")))?
            .join()
            .map_err(|_| EngineError::Template("rendering the chat template panicked".into()))
    })?;
    let out_of = |reason: String| EngineError::TemplateTooExpensive(reason);
    match result {
        Ok(text) if text.len() as u64 > limits.max_bytes + limits.max_repeated_text => Err(out_of(
            format!("prints more than {}", mib(limits.max_bytes)),
        )),
        Ok(text) => Ok(text),
        Err(err) => Err(match budget.reason() {
            Some(reason) => out_of(reason),
            None if err.kind() == ErrorKind::OutOfFuel => {
                out_of("runs too many steps (it loops too long)".into())
            }
            None if err.detail() == Some("recursion limit exceeded") => {
                out_of("recurses too deeply".into())
            }
            None => super::template_error(err),
        }),
    }
}

/// Replaces the value-building and comparing instructions with calls to the
/// checked operations registered under [`RESERVED_PREFIX`] names. Each
/// replacement pops the same operands and pushes one result, as the original
/// does.
fn patch(instructions: &mut Instructions<'_>) {
    for index in 0..instructions.len() {
        let Ok(index) = u32::try_from(index) else {
            break;
        };
        let Some(instruction) = instructions.get_mut(index) else {
            break;
        };
        let call = |name: &'static str, args: usize| {
            u16::try_from(args)
                .ok()
                .map(|n| Instruction::CallFunction(name, Some(n)))
        };
        let replacement = match instruction {
            Instruction::Add => call(super::checked::ADD, 2),
            Instruction::StringConcat => call(super::checked::CONCAT, 2),
            Instruction::Mul => call(super::checked::MUL, 2),
            Instruction::Eq => call(super::checked::EQ, 2),
            Instruction::Ne => call(super::checked::NE, 2),
            Instruction::Lt => call(super::checked::LT, 2),
            Instruction::Lte => call(super::checked::LTE, 2),
            Instruction::Gt => call(super::checked::GT, 2),
            Instruction::Gte => call(super::checked::GTE, 2),
            Instruction::In => call(super::checked::IN, 2),
            Instruction::GetItem => call(super::checked::ITEM, 2),
            Instruction::Slice => call(super::checked::SLICE, 4),
            Instruction::BuildList(Some(n)) => call(super::checked::LIST, *n),
            Instruction::BuildMap(pairs) => call(super::checked::MAP, *pairs * 2),
            Instruction::BuildKwargs(pairs) => call(super::checked::KWARGS, *pairs * 2),
            _ => None,
        };
        if let Some(replacement) = replacement {
            *instruction = replacement;
        }
    }
}

/// The fuel for a render: [`Limits::fuel`], lowered so that the longest
/// literal text inside a loop or macro, written once per instruction, stays
/// within [`Limits::max_repeated_text`].
fn fuel_for(compiled: &CompiledTemplate<'_>, limits: Limits) -> u64 {
    let mut longest = repeated_text(&compiled.instructions);
    // Blocks run wherever they are called from: count all their text.
    for block in compiled.blocks.values() {
        for index in 0..block.len() {
            if let Some(Instruction::EmitRaw(text)) =
                u32::try_from(index).ok().and_then(|i| block.get(i))
            {
                longest = longest.max(text.len());
            }
        }
    }
    let longest = longest.max(1) as u64;
    limits.fuel.min(limits.max_repeated_text / longest).max(1)
}

/// The length of the longest literal text that can be written more than
/// once: inside a loop body (between a backward jump and its target) or a
/// macro body (between the jump over it and its end).
fn repeated_text(instructions: &Instructions<'_>) -> usize {
    let get = |index: usize| u32::try_from(index).ok().and_then(|i| instructions.get(i));
    let len = instructions.len();
    let mut repeated = vec![false; len];
    let mut mark = |from: usize, to: usize| {
        for flag in repeated.iter_mut().take(to.min(len)).skip(from) {
            *flag = true;
        }
    };
    for index in 0..len {
        match get(index) {
            // A loop's back edge.
            Some(Instruction::Jump(target)) if (*target as usize) < index => {
                mark(*target as usize, index + 1);
            }
            // A macro's body follows the jump over it.
            Some(Instruction::BuildMacro(_, offset, _)) => {
                let start = *offset as usize;
                if let Some(Instruction::Jump(end)) = start.checked_sub(1).and_then(get) {
                    mark(start, *end as usize);
                }
            }
            _ => {}
        }
    }
    (0..len)
        .filter(|&i| repeated[i])
        .filter_map(|i| match get(i) {
            Some(Instruction::EmitRaw(text)) => Some(text.len()),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn compiled(source: &str) -> CompiledTemplate<'_> {
        CompiledTemplate::new("t", source, &config()).unwrap()
    }

    #[test]
    fn text_in_loops_and_macros_is_repeated_and_top_level_text_is_not() {
        let top = "x".repeat(5000);
        let source = format!(
            "{top}{{% for m in messages %}}<|im_start|>{{{{ m }}}}{{% endfor %}}\
             {{% macro f() %}}{}{{% endmacro %}}",
            "y".repeat(300)
        );
        assert_eq!(repeated_text(&compiled(&source).instructions), 300);
        let source = format!("{top}{{% for m in messages %}}<|im_start|>{{% endfor %}}");
        assert_eq!(
            repeated_text(&compiled(&source).instructions),
            "<|im_start|>".len()
        );
    }

    #[test]
    fn fuel_shrinks_with_long_text_in_a_loop() {
        let limits = Limits::default();
        let short = compiled("{% for m in messages %}<|im_start|>{% endfor %}");
        assert_eq!(fuel_for(&short, limits), limits.fuel);
        let long = "x".repeat(1 << 16);
        let source = format!("{{% for m in messages %}}{long}{{% endfor %}}");
        let long = compiled(&source);
        assert_eq!(
            fuel_for(&long, limits),
            limits.max_repeated_text / (1 << 16)
        );
    }

    #[test]
    fn operators_become_checked_calls() {
        let mut c = compiled("{{ a + b ~ c * 2 }}{{ [a] == {'k': a} }}{{ a in b }}{{ a[b] }}");
        patch(&mut c.instructions);
        let mut names = Vec::new();
        for i in 0..c.instructions.len() {
            match c.instructions.get(i as u32) {
                Some(Instruction::Add | Instruction::StringConcat | Instruction::Mul) => {
                    panic!("an operator was left unchecked")
                }
                Some(Instruction::CallFunction(name, Some(2))) => names.push(*name),
                _ => {}
            }
        }
        for op in [
            super::super::checked::ADD,
            super::super::checked::CONCAT,
            super::super::checked::MUL,
            super::super::checked::EQ,
            super::super::checked::IN,
            super::super::checked::ITEM,
        ] {
            assert!(names.contains(&op), "{op} missing from {names:?}");
        }
    }

    #[test]
    fn a_map_literal_is_one_call_with_both_halves_of_each_pair() {
        // (A literal of constants is folded into one constant.)
        let mut c = compiled("{{ {'a': x, 'b': y} }}");
        patch(&mut c.instructions);
        let found = (0..c.instructions.len()).any(|i| {
            matches!(
                c.instructions.get(i as u32),
                Some(Instruction::CallFunction(name, Some(4))) if *name == super::super::checked::MAP
            )
        });
        assert!(found);
    }

    #[test]
    fn numbers_are_not_folded_into_constants() {
        let source = "{{ 'x' * 100000000 }}{{ items.0 }}{{ a[-1:2] }}{% set n = 10 %}";
        let unfolded = unfold_numbers(source).unwrap();
        assert_eq!(
            unfolded,
            "{{ 'x' * (__hearth_number(100000000)) }}{{ items.0 }}\
             {{ a[-(__hearth_number(1)):(__hearth_number(2))] }}\
             {% set n = (__hearth_number(10)) %}"
        );
        // Compiled as is, the repetition is a 100 MB constant; unfolded it is
        // a multiplication done (checked) at render time.
        let folded = compiled("{{ 'x' * 1000 }}");
        let constant = (0..folded.instructions.len()).any(|i| {
            matches!(folded.instructions.get(i as u32), Some(Instruction::LoadConst(v)) if v.len() == Some(1000))
        });
        assert!(constant, "minijinja folds the repetition when compiling");
        let unfolded = unfold_numbers("{{ 'x' * 1000 }}").unwrap();
        let runtime = compiled(&unfolded);
        let mul = (0..runtime.instructions.len())
            .any(|i| matches!(runtime.instructions.get(i as u32), Some(Instruction::Mul)));
        assert!(mul);
    }

    #[test]
    fn blocks_are_a_map_of_instructions() {
        // `fuel_for` reads blocks as plain instruction lists.
        let c = compiled("{% block x %}text{% endblock %}");
        let blocks: &BTreeMap<&str, Instructions<'_>> = &c.blocks;
        assert!(blocks.contains_key("x"));
    }
}
