//! Conversation titles.

/// Longest title made from a message, in characters.
const MAX_CHARS: usize = 48;

/// A title from the first user message: whitespace collapsed, cut at a word
/// boundary with an ellipsis when long.
pub fn title_from_message(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let full = words.join(" ");
    if full.is_empty() {
        return "New chat".to_owned();
    }
    if full.chars().count() <= MAX_CHARS {
        return full;
    }
    let mut title = String::new();
    for word in &words {
        let next = title.chars().count() + usize::from(!title.is_empty()) + word.chars().count();
        if next > MAX_CHARS - 1 {
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    if title.is_empty() {
        // One very long word: cut it.
        title = full.chars().take(MAX_CHARS - 1).collect();
    }
    title.push('…');
    title
}

/// Cleans a title the model wrote: first line, no quotes or trailing period.
pub fn clean_generated_title(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .trim_start_matches(|c: char| c == '#' || c == '*' || c.is_whitespace())
        .trim_start_matches("Title:")
        .trim()
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '*' | '`' | '“' | '”'))
        .trim_end_matches('.')
        .trim();
    (!line.is_empty()).then(|| title_from_message(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_are_their_own_title() {
        assert_eq!(title_from_message("  What is   Rust?\n"), "What is Rust?");
        assert_eq!(title_from_message(" \n "), "New chat");
    }

    #[test]
    fn long_messages_are_cut_at_a_word() {
        let title = title_from_message(
            "Explain how a write-ahead log keeps a database consistent after a power cut",
        );
        assert_eq!(title, "Explain how a write-ahead log keeps a database…");
        assert!(title.chars().count() <= MAX_CHARS);
        let word = "x".repeat(100);
        assert_eq!(title_from_message(&word).chars().count(), MAX_CHARS);
    }

    #[test]
    fn generated_titles_are_cleaned() {
        assert_eq!(
            clean_generated_title("\n\"Rust ownership basics.\"\nmore").as_deref(),
            Some("Rust ownership basics")
        );
        assert_eq!(
            clean_generated_title("Title: WAL mode").as_deref(),
            Some("WAL mode")
        );
        assert_eq!(clean_generated_title("  \n"), None);
    }
}
