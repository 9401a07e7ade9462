//! A reasoning model's thinking in the terminal, as Ollama shows it:
//! `Thinking...`, the thoughts, `...done thinking.`, then the answer. The
//! thoughts are not the answer, so they go to stderr (dimmed on a terminal)
//! and `hearth chat > answers.txt` keeps only answers; `--hide-thinking`
//! leaves them out. The split is the one every front end uses
//! (`hearth_backend::reasoning`).

use std::io::IsTerminal;

use hearth_backend::reasoning::{Part, Splitter};

use crate::out::{note, noteln, out};

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Prints one streamed answer, its thinking apart from its text.
pub(crate) struct Printer {
    splitter: Splitter,
    /// Thoughts are shown (not `--hide-thinking`).
    show: bool,
    /// Dim them (stderr is a terminal).
    dim: bool,
    /// `Thinking...` was printed and `...done thinking.` not yet.
    thinking: bool,
}

impl Printer {
    /// A printer for a new answer, or one being continued that has `so_far`.
    pub(crate) fn new(show: bool, so_far: &str) -> Self {
        Self {
            splitter: Splitter::after(so_far),
            show,
            dim: std::io::stderr().is_terminal(),
            thinking: false,
        }
    }

    /// The next streamed piece.
    pub(crate) fn push(&mut self, piece: &str) {
        let parts = self.splitter.push(piece);
        self.print(parts);
    }

    /// The end of the answer.
    pub(crate) fn finish(&mut self) {
        let parts = self.splitter.finish();
        self.print(parts);
        self.done_thinking();
    }

    fn print(&mut self, parts: Vec<(Part, String)>) {
        for (part, text) in parts {
            match part {
                Part::Reasoning if self.show => {
                    if !self.thinking {
                        noteln!("Thinking...");
                        self.thinking = true;
                    }
                    if self.dim {
                        note!("{DIM}{text}{RESET}");
                    } else {
                        note!("{text}");
                    }
                }
                Part::Reasoning => {}
                Part::Content => {
                    self.done_thinking();
                    // A closed stdout must not stop the answer being stored.
                    let _ = out!("{text}");
                }
            }
        }
    }

    fn done_thinking(&mut self) {
        if std::mem::take(&mut self.thinking) {
            noteln!("\n...done thinking.\n");
        }
    }
}
