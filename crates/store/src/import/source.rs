//! Reading what the user pointed at (a file, a folder or a zip) into memory,
//! within limits.
//!
//! Only JSON and JSON Lines files are read; everything else (a ChatGPT
//! export's images, a Jan folder's models) is passed over. A zip is read
//! entry by entry through a size cap, whatever sizes its headers claim, so a
//! zip bomb stops at the cap instead of filling memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::StoreError;

/// How much an import may read. The defaults fit years of heavy use (a
/// ChatGPT export of 10,000 conversations is a few hundred MB) and keep a
/// hostile file from exhausting memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLimits {
    /// The largest single JSON file.
    pub max_file_bytes: u64,
    /// All files read together.
    pub max_total_bytes: u64,
    /// Entries looked at in a folder or zip.
    pub max_files: usize,
    /// Conversations in one import.
    pub max_conversations: usize,
    /// Messages in one conversation.
    pub max_messages: usize,
    /// How much a zip entry may grow when unpacked (text compresses ~10x; a
    /// zip bomb far more), for entries over 16 MiB.
    pub max_zip_ratio: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 1 << 30,
            max_total_bytes: 2 << 30,
            max_files: 200_000,
            max_conversations: 100_000,
            max_messages: 100_000,
            max_zip_ratio: 200,
        }
    }
}

/// One JSON or JSON Lines file read from the input.
#[derive(Debug)]
pub(crate) struct InputFile {
    /// Its path inside the folder or zip (`/`-separated), or its file name.
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
}

impl InputFile {
    /// The last part of the name.
    pub(crate) fn base_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// The folder part of the name ("" at the top).
    pub(crate) fn dir(&self) -> &str {
        self.name.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

/// Everything read from one path.
#[derive(Debug, Default)]
pub(crate) struct Input {
    pub(crate) files: Vec<InputFile>,
    /// Whether the user named one file (its content decides, whatever its name).
    pub(crate) single: bool,
}

/// How many bytes were read so far, against the limits.
struct Budget<'a> {
    limits: &'a ImportLimits,
    total: u64,
    entries: usize,
}

impl Budget<'_> {
    fn entry(&mut self) -> Result<(), StoreError> {
        self.entries += 1;
        if self.entries > self.limits.max_files {
            return Err(StoreError::InvalidImport(format!(
                "more than {} files to look through; point Hearth at the export itself",
                self.limits.max_files
            )));
        }
        Ok(())
    }

    /// Reads all of `reader` (named `name`), refusing more than the limits.
    fn read(&mut self, name: &str, reader: impl Read) -> Result<Vec<u8>, StoreError> {
        let cap = self
            .limits
            .max_file_bytes
            .min(self.limits.max_total_bytes.saturating_sub(self.total));
        let mut bytes = Vec::new();
        reader
            .take(cap.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::InvalidImport(format!("cannot read {name}: {e}")))?;
        let len = bytes.len() as u64;
        if len > cap {
            return Err(too_big(
                name,
                self.limits,
                cap == self.limits.max_file_bytes,
            ));
        }
        self.total += len;
        Ok(bytes)
    }
}

fn too_big(name: &str, limits: &ImportLimits, one_file: bool) -> StoreError {
    StoreError::InvalidImport(if one_file {
        format!(
            "{name} is larger than {} MiB, more than one export file holds; it was not read",
            limits.max_file_bytes >> 20
        )
    } else {
        format!(
            "the files to import add up to more than {} MiB; import them in parts",
            limits.max_total_bytes >> 20
        )
    })
}

/// Whether a file of this name is read at all.
fn wanted(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".json") || lower.ends_with(".jsonl")
}

/// Reads `path`: one file (a JSON file, or a zip whatever its name), or a
/// folder, walked without following links.
pub(crate) fn read(path: &Path, limits: &ImportLimits) -> Result<Input, StoreError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| StoreError::InvalidImport(format!("cannot read {}: {e}", path.display())))?;
    let shown = path.display().to_string();
    let mut budget = Budget {
        limits,
        total: 0,
        entries: 0,
    };
    if meta.is_dir() {
        let mut input = Input::default();
        walk(path, "", 0, &mut budget, &mut input)?;
        return Ok(input);
    }
    if meta.len() > limits.max_file_bytes && !is_zip(path)? {
        return Err(too_big(&shown, limits, true));
    }
    if is_zip(path)? {
        return read_zip(path, &mut budget);
    }
    let file = File::open(path)
        .map_err(|e| StoreError::InvalidImport(format!("cannot read {shown}: {e}")))?;
    let bytes = budget.read(&shown, file)?;
    let name = path
        .file_name()
        .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
    Ok(Input {
        files: vec![InputFile { name, bytes }],
        single: true,
    })
}

fn is_zip(path: &Path) -> Result<bool, StoreError> {
    let mut magic = [0u8; 4];
    let mut file = File::open(path)
        .map_err(|e| StoreError::InvalidImport(format!("cannot read {}: {e}", path.display())))?;
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => {
                return Err(StoreError::InvalidImport(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(read == 4 && magic == *b"PK\x03\x04")
}

/// Deepest folder looked into (a Jan data folder is `jan/threads/ID/`).
const MAX_DEPTH: usize = 6;

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    budget: &mut Budget<'_>,
    input: &mut Input,
) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        StoreError::InvalidImport(format!("cannot read the folder {}: {e}", dir.display()))
    })?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    // The same order on every machine, so the report is too.
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        budget.entry()?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let inner = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        // Links are not followed: an export has none, and a link could lead
        // anywhere (or in a circle).
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth < MAX_DEPTH && !name.starts_with('.') {
            walk(&entry.path(), &inner, depth + 1, budget, input)?;
        } else if kind.is_file() && wanted(&name) {
            let meta = entry
                .metadata()
                .map_err(|e| StoreError::InvalidImport(format!("cannot read {inner}: {e}")))?;
            if meta.len() > budget.limits.max_file_bytes {
                return Err(too_big(&inner, budget.limits, true));
            }
            let file = File::open(entry.path())
                .map_err(|e| StoreError::InvalidImport(format!("cannot read {inner}: {e}")))?;
            let bytes = budget.read(&inner, file)?;
            input.files.push(InputFile { name: inner, bytes });
        }
    }
    Ok(())
}

/// Entries bigger than this must not have grown more than the ratio limit.
const RATIO_CHECKED_FROM: u64 = 16 << 20;

fn read_zip(path: &Path, budget: &mut Budget<'_>) -> Result<Input, StoreError> {
    let shown = path.display().to_string();
    let file = File::open(path)
        .map_err(|e| StoreError::InvalidImport(format!("cannot read {shown}: {e}")))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        StoreError::InvalidImport(format!("{shown} is not a readable zip file: {e}"))
    })?;
    if zip.len() > budget.limits.max_files {
        return Err(StoreError::InvalidImport(format!(
            "{shown} holds {} files, more than the {} an export has",
            zip.len(),
            budget.limits.max_files
        )));
    }
    let mut input = Input::default();
    for i in 0..zip.len() {
        budget.entry()?;
        let entry = zip.by_index(i).map_err(|e| {
            StoreError::InvalidImport(format!("{shown}: entry {i} cannot be read: {e}"))
        })?;
        if entry.is_dir() {
            continue;
        }
        // Names are only used to recognise files, never as paths on disk.
        let name = entry
            .name()
            .map_err(|e| {
                StoreError::InvalidImport(format!("{shown}: entry {i} has a bad name: {e}"))
            })?
            .replace('\\', "/");
        if !wanted(&name) || name.split('/').any(|part| part == "__MACOSX") {
            continue;
        }
        let (size, packed) = (entry.size(), entry.compressed_size());
        if size > budget.limits.max_file_bytes {
            return Err(too_big(&name, budget.limits, true));
        }
        if size > RATIO_CHECKED_FROM && size / packed.max(1) > budget.limits.max_zip_ratio {
            return Err(StoreError::InvalidImport(format!(
                "{name} in {shown} unpacks to {} times its packed size; that is a zip bomb, \
                 not an export",
                size / packed.max(1)
            )));
        }
        // The cap applies to what actually comes out, not the header's claim.
        let bytes = budget.read(&name, entry)?;
        input.files.push(InputFile { name, bytes });
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_with(entries: &[(&str, &[u8])]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.zip");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        (dir, path)
    }

    #[test]
    fn a_zip_gives_its_json_files_only() {
        let (_dir, path) = zip_with(&[
            ("conversations.json", b"[]"),
            ("file-abc.png", b"\x89PNG"),
            ("__MACOSX/._conversations.json", b"junk"),
            ("user.json", b"{}"),
        ]);
        let input = read(&path, &ImportLimits::default()).unwrap();
        let names: Vec<&str> = input.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["conversations.json", "user.json"]);
        assert!(!input.single);
    }

    #[test]
    fn a_zip_bomb_stops_at_the_cap() {
        // 64 MiB of zeros packs into ~64 KiB: refused by its ratio.
        let zeros = vec![0u8; 64 << 20];
        let (_dir, path) = zip_with(&[("conversations.json", &zeros)]);
        let err = read(&path, &ImportLimits::default()).unwrap_err();
        assert!(err.to_string().contains("zip bomb"), "{err}");
        // Under a small cap the same entry is refused for its size.
        let limits = ImportLimits {
            max_file_bytes: 1 << 20,
            ..ImportLimits::default()
        };
        let err = read(&path, &limits).unwrap_err();
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
    }

    #[test]
    fn big_files_and_many_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conversations.json");
        std::fs::write(&file, vec![b' '; 3 << 20]).unwrap();
        let limits = ImportLimits {
            max_file_bytes: 2 << 20,
            ..ImportLimits::default()
        };
        let err = read(&file, &limits).unwrap_err();
        assert!(err.to_string().contains("larger than 2 MiB"), "{err}");
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}.json")), "{}").unwrap();
        }
        let limits = ImportLimits {
            max_files: 3,
            ..ImportLimits::default()
        };
        let err = read(dir.path(), &limits).unwrap_err();
        assert!(err.to_string().contains("more than 3 files"), "{err}");
    }

    #[test]
    fn a_folder_is_walked_in_order_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let thread = dir.path().join("threads/01ABC");
        std::fs::create_dir_all(&thread).unwrap();
        std::fs::write(thread.join("thread.json"), "{}").unwrap();
        std::fs::write(thread.join("messages.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("model.gguf"), "GGUF").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path(), dir.path().join("threads/loop")).unwrap();
        let input = read(dir.path(), &ImportLimits::default()).unwrap();
        let names: Vec<&str> = input.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["threads/01ABC/messages.jsonl", "threads/01ABC/thread.json"]
        );
        assert_eq!(input.files[1].dir(), "threads/01ABC");
        assert_eq!(input.files[1].base_name(), "thread.json");
    }
}
