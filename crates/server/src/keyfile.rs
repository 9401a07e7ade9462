//! The API key kept in a file of the data directory (`HEARTH_HOME/api-key`),
//! created random and readable by the owner only the first time it is needed.

use std::io::Write;
use std::path::Path;

use secrecy::SecretString;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "api-key";

/// The key in `file`, created when missing; `true` when it was just created.
/// An empty file is an error (the caller should not serve without a key).
pub fn key_in(file: &Path) -> std::io::Result<(SecretString, bool)> {
    if file.exists() {
        return read_key(file).map(|key| (key, false));
    }
    let bytes: [u8; 32] = rand::random();
    let key: String = std::iter::once("hearth-".to_owned())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(file)?;
    writeln!(out, "{key}")?;
    Ok((SecretString::from(key), true))
}

/// The key in an existing `file` (surrounding whitespace removed).
pub fn read_key(file: &Path) -> std::io::Result<SecretString> {
    let text = std::fs::read_to_string(file)?;
    let key = text.trim();
    if key.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the API key file {} is empty", file.display()),
        ));
    }
    Ok(SecretString::from(key.to_owned()))
}

/// The key for display: its start and last four characters.
pub fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 16 {
        return "••••••••".to_owned();
    }
    let head: String = chars.iter().take(7).collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}••••••••{tail}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn creates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(KEY_FILE);
        let (first, created) = key_in(&file).unwrap();
        assert!(created);
        assert!(first.expose_secret().starts_with("hearth-"));
        assert_eq!(first.expose_secret().len(), 7 + 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = key_in(&file).unwrap();
        assert!(!created);
        assert_eq!(again.expose_secret(), first.expose_secret());
        std::fs::write(&file, "  \n").unwrap();
        assert!(key_in(&file).is_err());
    }

    #[test]
    fn masks_all_but_the_ends() {
        let shown = masked("hearth-0123456789abcdef");
        assert_eq!(shown, "hearth-••••••••cdef");
        assert_eq!(masked("short"), "••••••••");
    }
}
