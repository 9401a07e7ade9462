//! Names: repository ids and file names from the Hub (validated, never trusted),
//! quantisation from a file name, split-file groups, and library ids.

use std::path::{Component, Path, PathBuf};

use crate::HubError;

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
}
