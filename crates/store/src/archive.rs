//! Exporting every conversation at once: a folder or a zip holding
//! `hearth-export.json` (all conversations with every branch; `hearth
//! history import` reads it back) and one Markdown file per conversation
//! (its active branch, for reading).
//!
//! Nothing is overwritten: the folder must be new or empty, the zip must not
//! exist. A zip is written beside its name and renamed into place when
//! complete. The files hold the decrypted history, so they are readable by
//! their owner only.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Store, StoreError, format_time};

/// The JSON file in an archive.
pub const ARCHIVE_JSON: &str = "hearth-export.json";
/// The folder of Markdown files in an archive.
pub const ARCHIVE_MARKDOWN: &str = "markdown";

/// What [`Store::export_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveReport {
    /// The folder or zip written.
    pub path: PathBuf,
    pub zip: bool,
    pub conversations: usize,
    /// Files written (the JSON and the Markdown files).
    pub files: usize,
}

impl Store {
    /// Writes every conversation to `dest`: a zip when its name ends in
    /// `.zip`, else a folder (created, or empty).
    pub fn export_archive(&self, dest: &Path) -> Result<ArchiveReport, StoreError> {
        let json = self.export_json(None)?;
        let mut files = vec![(ARCHIVE_JSON.to_owned(), json)];
        let conversations = self.export_set(None)?;
        let mut names = std::collections::HashSet::new();
        for conv in &conversations {
            let mut name = markdown_name(conv.created_at, &conv.title, conv.id.as_str());
            // Two conversations with the same date, title and id prefix.
            if !names.insert(name.clone()) {
                name = format!("{ARCHIVE_MARKDOWN}/{}.md", conv.id);
                names.insert(name.clone());
            }
            files.push((name, self.export_markdown(Some(&conv.id))?));
        }
        let zip = dest
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if zip {
            write_zip(dest, &files)?;
        } else {
            write_folder(dest, &files)?;
        }
        Ok(ArchiveReport {
            path: dest.to_path_buf(),
            zip,
            conversations: conversations.len(),
            files: files.len(),
        })
    }
}

/// `markdown/2026-11-23 Bread baking (3f2a91c4).md`: sorted by date, readable
/// on every system (no characters a file system refuses).
fn markdown_name(created_at: i64, title: &str, id: &str) -> String {
    let date = format_time(created_at);
    let date = date.split(' ').next().unwrap_or_default();
    let mut clean: String = title
        .chars()
        .map(|c| {
            if c.is_control() || "<>:\"/\\|?*".contains(c) {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    clean = clean.trim_matches('.').to_owned();
    if clean.chars().count() > 60 {
        clean = clean
            .chars()
            .take(60)
            .collect::<String>()
            .trim_end()
            .to_owned();
    }
    if clean.is_empty() {
        clean = "Untitled".into();
    }
    let short = id.get(..8).unwrap_or(id);
    format!("{ARCHIVE_MARKDOWN}/{date} {clean} ({short}).md")
}

/// A new file readable by its owner only.
fn create_private(path: &Path) -> Result<File, StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| StoreError::Invalid(format!("cannot create {}: {e}", path.display())))
}

fn write_folder(dest: &Path, files: &[(String, String)]) -> Result<(), StoreError> {
    match std::fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(StoreError::Invalid(format!(
                    "{} is not empty; export into a new or empty folder (nothing is overwritten)",
                    dest.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_private_dir(dest)?,
        Err(e) => {
            return Err(StoreError::Invalid(format!(
                "cannot use {}: {e}",
                dest.display()
            )));
        }
    }
    create_private_dir(&dest.join(ARCHIVE_MARKDOWN))?;
    for (name, text) in files {
        let path = dest.join(name);
        let mut file = create_private(&path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    Ok(())
}

fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .map_err(|e| StoreError::Invalid(format!("cannot create {}: {e}", path.display())))
}

fn write_zip(dest: &Path, files: &[(String, String)]) -> Result<(), StoreError> {
    if dest.exists() {
        return Err(StoreError::Invalid(format!(
            "{} already exists; choose another name (nothing is overwritten)",
            dest.display()
        )));
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    // A leftover from an export that was interrupted.
    let _ = std::fs::remove_file(&partial);
    let written = (|| -> Result<(), StoreError> {
        let mut zip = zip::ZipWriter::new(create_private(&partial)?);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o600);
        for (name, text) in files {
            zip.start_file(name.as_str(), options)
                .map_err(|e| StoreError::Invalid(format!("cannot write the zip: {e}")))?;
            zip.write_all(text.as_bytes())?;
        }
        let file = zip
            .finish()
            .map_err(|e| StoreError::Invalid(format!("cannot write the zip: {e}")))?;
        file.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, dest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_names_are_safe_and_dated() {
        let id = "3f2a91c4aaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(
            markdown_name(1_795_467_900_000, "Bread: a/b \"test\"?", id),
            "markdown/2026-11-23 Bread a b test (3f2a91c4).md"
        );
        assert_eq!(
            markdown_name(0, "..\n\t", id),
            "markdown/1970-01-01 Untitled (3f2a91c4).md"
        );
        let long = "x".repeat(100);
        assert_eq!(
            markdown_name(0, &long, id).len(),
            "markdown/1970-01-01  (3f2a91c4).md".len() + 60
        );
    }
}
