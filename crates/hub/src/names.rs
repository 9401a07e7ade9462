//! Names: repository ids and file names from the Hub (validated, never trusted),
//! quantisation from a file name, split-file groups, library ids, and the
//! name a person reads ([`display_name`]).

use std::path::{Component, Path, PathBuf};

use crate::{GgufInfo, HubError};

/// Checks `owner/name` (the Hub's repo id rules: letters, digits, `-`, `_`, `.`).
pub fn validate_repo_id(repo: &str) -> Result<(), HubError> {
    let bad = || HubError::BadRepoId(repo.to_owned());
    let (owner, name) = repo.split_once('/').ok_or_else(bad)?;
    for part in [owner, name] {
        let ok = !part.is_empty()
            && part.len() <= 96
            && part != "."
            && part != ".."
            && !part.contains("..")
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// A repo-relative file name from the Hub as a safe relative path: only normal
/// components, no `..`, no absolute paths, no backslashes, no NUL.
pub fn safe_relative_path(name: &str) -> Result<PathBuf, HubError> {
    let refuse = |reason| HubError::UnsafeName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > 1024 {
        return Err(refuse("empty or too long"));
    }
    if name.contains('\0') {
        return Err(refuse("contains NUL"));
    }
    if name.contains('\\') {
        return Err(refuse("contains a backslash"));
    }
    if name.contains(':') {
        return Err(refuse("contains a colon"));
    }
    let path = Path::new(name);
    if path.is_absolute() || name.starts_with('/') {
        return Err(refuse("absolute path"));
    }
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => return Err(refuse("contains ..")),
            _ => return Err(refuse("not a plain relative path")),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(refuse("empty path"));
    }
    Ok(out)
}

/// `dir/rel`, refusing any way out of `dir`, and creates its parent folders.
///
/// `rel` comes from [`safe_relative_path`] (plain components only), so only a
/// symlink can lead out. Before anything is created, the deepest part of the
/// destination that already exists must resolve inside `dir`; otherwise a
/// symlinked `owner` folder would have Hearth create folders wherever it
/// points. After creating, the parent is resolved again.
pub(crate) fn contained_path(dir: &Path, rel: &Path) -> Result<PathBuf, HubError> {
    let name = rel.display().to_string();
    let outside = || HubError::UnsafeName {
        name: name.clone(),
        reason: "leads outside the models folder through a symlink",
    };
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(HubError::UnsafeName {
            name: name.clone(),
            reason: "not a plain relative path",
        });
    }
    let dest = dir.join(rel);
    let parent = dest.parent().unwrap_or(dir);
    let root = dir.canonicalize().map_err(|e| HubError::io(dir, e))?;
    let existing = parent
        .ancestors()
        .find(|a| a.symlink_metadata().is_ok())
        .unwrap_or(dir);
    let real_existing = existing
        .canonicalize()
        .map_err(|e| HubError::io(existing, e))?;
    if !real_existing.starts_with(&root) {
        return Err(outside());
    }
    std::fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
    let real_parent = parent.canonicalize().map_err(|e| HubError::io(parent, e))?;
    if !real_parent.starts_with(&root) {
        return Err(outside());
    }
    if dest
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(HubError::UnsafeName {
            name,
            reason: "the destination is a symlink",
        });
    }
    Ok(dest)
}

const QUANTS: &[&str] = &[
    "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
    "IQ4_NL", "IQ4_XS", "Q2_K_L", "Q2_K_S", "Q2_K", "Q3_K_XL", "Q3_K_L", "Q3_K_M", "Q3_K_S",
    "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "Q4_0", "Q4_1", "Q4_K_L", "Q4_K_M", "Q4_K_S", "Q5_0",
    "Q5_1", "Q5_K_L", "Q5_K_M", "Q5_K_S", "Q6_K_L", "Q6_K", "Q8_0", "BF16", "F16", "F32", "TQ1_0",
    "TQ2_0",
];

/// The quantisation named in a file name (`...Q4_K_M.gguf` -> `Q4_K_M`).
pub fn quant_from_name(file: &str) -> Option<String> {
    let stem = file.rsplit('/').next().unwrap_or(file).to_ascii_uppercase();
    let stem = stem.strip_suffix(".GGUF").unwrap_or(&stem);
    // Longest match wins (Q4_K_M before Q4_K), at a word boundary.
    let mut best: Option<&str> = None;
    for q in QUANTS {
        let mut from = 0;
        while let Some(at) = stem[from..].find(q) {
            let start = from + at;
            let end = start + q.len();
            let before_ok = start == 0 || !stem.as_bytes()[start - 1].is_ascii_alphanumeric();
            let after_ok = end == stem.len() || !stem.as_bytes()[end].is_ascii_alphanumeric();
            if before_ok && after_ok && best.is_none_or(|b| b.len() < q.len()) {
                best = Some(q);
            }
            from = end;
        }
    }
    best.map(str::to_owned)
}

/// `(base, part, total)` for split files like `model-00001-of-00003.gguf`.
pub fn split_part(file: &str) -> Option<(String, u32, u32)> {
    let stem = file.strip_suffix(".gguf")?;
    let (rest, total) = stem.rsplit_once("-of-")?;
    let (base, part) = rest.rsplit_once('-')?;
    if part.len() != 5 || total.len() != 5 {
        return None;
    }
    let part: u32 = part.parse().ok()?;
    let total: u32 = total.parse().ok()?;
    (part >= 1 && part <= total).then(|| (base.to_owned(), part, total))
}

/// A short, human-usable library id from a file name:
/// `SmolLM2-135M-Instruct.Q4_1.gguf` -> `smollm2-135m-instruct-q4_1`.
pub fn id_from_file_name(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    let name = match split_part(name) {
        Some((base, _, _)) => base,
        None => name.strip_suffix(".gguf").unwrap_or(name).to_owned(),
    };
    let mut id = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            id.push(c);
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    let id = id.trim_matches('-').to_owned();
    if id.is_empty() { "model".into() } else { id }
}

/// `id`, or `id-2`, `id-3`... whichever `taken` does not hold yet.
pub(crate) fn unique_id(id: String, taken: impl Fn(&str) -> bool) -> String {
    if !taken(&id) {
        return id;
    }
    (2..)
        .map(|n| format!("{id}-{n}"))
        .find(|candidate| !taken(candidate))
        .unwrap_or(id)
}

/// The longest name shown before the quantisation, in characters.
const MAX_DISPLAY_CHARS: usize = 60;

/// Text from a file's header or name made fit to show: control and
/// invisible formatting characters (zero-width, bidirectional overrides)
/// removed, each run of whitespace one space, trimmed, and at most `max`
/// characters (the last one then `…`). `None` when nothing is left.
///
/// Header strings come from whoever made the file: never show one raw.
pub fn clean_label(raw: &str, max: usize) -> Option<String> {
    let mut out = String::new();
    let mut chars = 0usize;
    let mut space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || is_invisible(c) {
            continue;
        }
        if space {
            out.push(' ');
            chars += 1;
            space = false;
        }
        out.push(c);
        chars += 1;
        if chars > max {
            break;
        }
    }
    if chars > max {
        out = out.chars().take(max.saturating_sub(1)).collect();
        out = out.trim_end().to_owned();
        out.push('…');
    }
    (!out.is_empty()).then_some(out)
}

/// Characters that change how text around them displays without showing
/// anything themselves.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// The name to show for a model: `SmolLM2 135M Instruct · Q4_1`.
///
/// The name comes from the header's `general.name`, with `general.size_label`
/// added when the name lacks it, and the quantisation (`general.file_type`,
/// else the one in the file name) after a `·`. The file name stands in when
/// the header has no name, and also when it names the same model (it begins
/// with the header's `general.basename`) with capitals its publisher chose:
/// llama.cpp's converter makes `general.name` up from a folder name when the
/// model card has none, so a file can say `Smollm2 135M 8k Lc100K Mix1 Ep2`
/// where its publisher wrote `SmolLM2-135M-Instruct`. `None` when neither
/// the header nor the file name gives anything to show (a file called
/// `model.gguf` or after its hash).
pub fn display_name(info: &GgufInfo, file_name: &str) -> Option<String> {
    let meta = info
        .name
        .as_deref()
        .and_then(|n| clean_label(n, MAX_DISPLAY_CHARS));
    let file = title_from_file_name(file_name);
    let family = info
        .basename
        .as_deref()
        .or_else(|| meta.as_deref().and_then(|m| m.split_whitespace().next()))
        .map(key)
        .unwrap_or_default();
    let mut name = match (meta, file) {
        (Some(_), Some(file))
            if !family.is_empty() && key(&file).starts_with(&family) && mixed_case(&file) =>
        {
            file
        }
        (Some(meta), _) => meta,
        (None, Some(file)) => file,
        (None, None) => return None,
    };
    if let Some(size) = info.size_label.as_deref().and_then(|s| clean_label(s, 16)) {
        let has_size = name
            .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
            .any(|w| w.eq_ignore_ascii_case(&size));
        if !has_size {
            name = format!("{name} {size}");
        }
    }
    let quant = info
        .quant
        .as_deref()
        .and_then(|q| clean_label(q, 16))
        .or_else(|| quant_from_name(file_name));
    if let Some(quant) = quant {
        let has_quant = name
            .split_whitespace()
            .last()
            .is_some_and(|w| w.eq_ignore_ascii_case(&quant));
        if !has_quant {
            name = format!("{name} · {quant}");
        }
    }
    Some(name)
}

/// A readable name from a file name: `SmolLM2-135M-Instruct.Q4_1.gguf` ->
/// `SmolLM2 135M Instruct` (the quantisation, the split-part suffix and the
/// extension left out; `-` and `_` as spaces, dots kept between digits).
/// `None` for names that say nothing (`model.gguf`, a hash).
fn title_from_file_name(file: &str) -> Option<String> {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let mut stem = match split_part(name) {
        Some((base, _, _)) => base,
        None => {
            let lower = name.to_ascii_lowercase();
            match lower.strip_suffix(".gguf") {
                Some(s) => name[..s.len()].to_owned(),
                None => name.to_owned(),
            }
        }
    };
    if let Some(quant) = quant_from_name(&stem) {
        let upper = stem.to_ascii_uppercase();
        if let Some(at) = upper.rfind(&quant) {
            stem.replace_range(at..at + quant.len(), " ");
        }
    }
    let chars: Vec<char> = stem.chars().collect();
    let spaced: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| match c {
            '-' | '_' => ' ',
            '.' => {
                let digit = |j: Option<usize>| {
                    j.and_then(|j| chars.get(j))
                        .is_some_and(|c: &char| c.is_ascii_digit())
                };
                if digit(i.checked_sub(1)) && digit(Some(i + 1)) {
                    '.'
                } else {
                    ' '
                }
            }
            c => c,
        })
        .collect();
    let title = clean_label(&spaced, MAX_DISPLAY_CHARS)?;
    let says_nothing = title.split_whitespace().all(|w| {
        matches!(
            w.to_ascii_lowercase().as_str(),
            "model" | "ggml" | "gguf" | "weights" | "sha256" | "blob"
        ) || (w.len() >= 16 && w.chars().all(|c| c.is_ascii_hexdigit()))
    });
    let has_letter = title.chars().any(char::is_alphabetic);
    (has_letter && !says_nothing).then_some(title)
}

/// Lowercase letters and digits only, for comparing names.
fn key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Both capitals and small letters: casing someone chose.
fn mixed_case(s: &str) -> bool {
    s.chars().any(char::is_uppercase) && s.chars().any(char::is_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert!(validate_repo_id("bartowski/Llama-3.2-1B-Instruct-GGUF").is_ok());
        for bad in ["noslash", "a/b/c", "../x", "a/..", "a/b c", "/x", "a/"] {
            assert!(validate_repo_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hub_file_names_are_validated() {
        assert_eq!(
            safe_relative_path("Q4_K_M/model-00001-of-00002.gguf").unwrap(),
            PathBuf::from("Q4_K_M/model-00001-of-00002.gguf")
        );
        for bad in [
            "../evil.gguf",
            "a/../../b.gguf",
            "/etc/passwd",
            "a\\..\\b.gguf",
            "a\0b",
            "C:evil.gguf",
            "",
            ".",
        ] {
            assert!(safe_relative_path(bad).is_err(), "{bad:?}");
        }
    }

    /// Issue 19: a symlinked folder inside the models folder must not make
    /// Hearth create folders where it points.
    #[cfg(unix)]
    #[test]
    fn contained_path_creates_nothing_outside_through_a_symlink() {
        let models = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), models.path().join("owner")).unwrap();
        let err = contained_path(models.path(), Path::new("owner/repo/model.gguf")).unwrap_err();
        assert!(matches!(err, HubError::UnsafeName { .. }), "{err}");
        assert!(
            !elsewhere.path().join("repo").exists(),
            "a folder was created outside the models folder"
        );
        // Inside, folders are made as needed.
        let dest = contained_path(models.path(), Path::new("a/b/model.gguf")).unwrap();
        assert_eq!(dest, models.path().join("a/b/model.gguf"));
        assert!(models.path().join("a/b").is_dir());
    }

    #[test]
    fn quant_names() {
        let cases = [
            ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", Some("Q4_K_M")),
            ("SmolLM2-135M-Instruct.Q4_1.gguf", Some("Q4_1")),
            ("qwen2.5-0.5b-instruct-q8_0.gguf", Some("Q8_0")),
            ("model-IQ4_XS-00001-of-00002.gguf", Some("IQ4_XS")),
            ("gemma-3-270m-it-BF16.gguf", Some("BF16")),
            ("plain.gguf", None),
        ];
        for (file, want) in cases {
            assert_eq!(quant_from_name(file).as_deref(), want, "{file}");
        }
    }

    #[test]
    fn split_files() {
        assert_eq!(
            split_part("big-Q4_K_M-00002-of-00003.gguf"),
            Some(("big-Q4_K_M".into(), 2, 3))
        );
        assert_eq!(split_part("model.gguf"), None);
        assert_eq!(split_part("x-00004-of-00003.gguf"), None);
    }

    #[test]
    fn ids() {
        assert_eq!(
            id_from_file_name("SmolLM2-135M-Instruct.Q4_1.gguf"),
            "smollm2-135m-instruct-q4_1"
        );
        assert_eq!(
            id_from_file_name("dir/Big Model-Q4_K_M-00001-of-00002.gguf"),
            "big-model-q4_k_m"
        );
        let taken = ["a", "a-2"];
        assert_eq!(unique_id("a".into(), |c| taken.contains(&c)), "a-3");
    }

    fn info(
        name: Option<&str>,
        basename: Option<&str>,
        size: Option<&str>,
        quant: Option<&str>,
    ) -> GgufInfo {
        GgufInfo {
            architecture: "llama".into(),
            name: name.map(str::to_owned),
            basename: basename.map(str::to_owned),
            size_label: size.map(str::to_owned),
            parameters: 0,
            quant: quant.map(str::to_owned),
            context_length: None,
            has_chat_template: true,
            shape: crate::ModelShape::default(),
        }
    }

    /// Issue 21: names from the header, not a prettified file name; the
    /// SmolLM2 test model's header says "Smollm2 135M 8k Lc100K Mix1 Ep2"
    /// (llama.cpp's converter made it up from a folder name).
    #[test]
    fn display_names() {
        let cases = [
            (
                info(
                    Some("Smollm2 135M 8k Lc100K Mix1 Ep2"),
                    Some("smollm2"),
                    Some("135M"),
                    Some("Q4_1"),
                ),
                "SmolLM2-135M-Instruct.Q4_1.gguf",
                "SmolLM2 135M Instruct · Q4_1",
            ),
            // The header's name, with its size label and quantisation.
            (
                info(
                    Some("Gemma 3"),
                    Some("gemma-3"),
                    Some("270M"),
                    Some("Q4_K_M"),
                ),
                "gemma-3-270m-q4_k_m.gguf",
                "Gemma 3 270M · Q4_K_M",
            ),
            // A size label the name has already is not repeated.
            (
                info(
                    Some("Gemma 3 270m"),
                    Some("gemma-3"),
                    Some("270M"),
                    Some("Q4_K_M"),
                ),
                "gemma-3-270m-q4_k_m.gguf",
                "Gemma 3 270m · Q4_K_M",
            ),
            // A renamed file does not replace the header's name.
            (
                info(
                    Some("Llama 3.2 1B Instruct"),
                    Some("Llama-3.2"),
                    None,
                    Some("Q8_0"),
                ),
                "My-Favourite.gguf",
                "Llama 3.2 1B Instruct · Q8_0",
            ),
            // No name in the header: the file name, its quantisation kept once.
            (
                info(None, None, None, None),
                "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
                "Llama 3.2 1B Instruct · Q4_K_M",
            ),
            (
                info(None, None, None, Some("Q6_K")),
                "qwen2.5-0.5b-instruct-q6_k-00001-of-00002.gguf",
                "qwen2.5 0.5b instruct · Q6_K",
            ),
            // An Ollama blob is named after its hash: the header's name only.
            (
                info(Some("Llama 3.2 3B Instruct"), None, None, Some("Q4_K_M")),
                "sha256-6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa",
                "Llama 3.2 3B Instruct · Q4_K_M",
            ),
        ];
        for (info, file, want) in cases {
            assert_eq!(display_name(&info, file).as_deref(), Some(want), "{file}");
        }
        // Nothing to show: the caller falls back to the library id.
        assert_eq!(
            display_name(&info(None, None, None, None), "model.gguf"),
            None
        );
        assert_eq!(
            display_name(
                &info(Some(" \u{202E}\n\t "), None, None, None),
                "sha256-0123456789abcdef0123"
            ),
            None
        );
    }

    /// Header strings are hostile: control characters, bidirectional
    /// overrides and zero-width characters go, whitespace is one space, and
    /// the length is capped.
    #[test]
    fn hostile_header_names_are_cleaned_and_capped() {
        let evil = info(
            Some("  Nice\u{1b}[31m\u{202E}Model\u{200B}\r\n\t2\0  "),
            None,
            Some("7B\u{7}"),
            Some("Q4_0\n"),
        );
        assert_eq!(
            display_name(&evil, "x.gguf").as_deref(),
            Some("Nice[31mModel 2 7B · Q4_0")
        );
        let long = info(Some(&"Ab ".repeat(1000)), None, None, Some("Q8_0"));
        let shown = display_name(&long, "x.gguf").unwrap();
        let before_quant = shown.strip_suffix(" · Q8_0").unwrap();
        assert_eq!(before_quant.chars().count(), MAX_DISPLAY_CHARS);
        assert!(before_quant.ends_with('…'), "{shown}");
        assert!(shown.chars().all(|c| !c.is_control()));
        assert_eq!(clean_label("\u{0}\u{1f}  ", 10), None);
        assert_eq!(clean_label("abcdef", 4).as_deref(), Some("abc…"));
        assert_eq!(clean_label("abcd", 4).as_deref(), Some("abcd"));
    }
}
