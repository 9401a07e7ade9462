//! Files and folders that hold the user's private data: the data folder is
//! the user's alone (0700), and a file Hearth writes out in the clear (an
//! export of the decrypted history) is readable by its owner only (0600).
//!
//! On other systems than Unix the folder's own permissions (the user's
//! profile) are relied on and nothing is changed.

use std::io::Write;
use std::path::Path;

/// Creates `dir` (and its parents) and makes `dir` itself private. A folder
/// that already exists with access for the group or others is tightened, and
/// that is logged; one that cannot be (not the user's) is left as it is, with
/// a warning.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                Ok(()) => tracing::info!(
                    dir = %dir.display(),
                    was = format!("{:o}", mode & 0o777),
                    "made the data folder private (0700)"
                ),
                Err(err) => tracing::warn!(
                    dir = %dir.display(),
                    error = %err,
                    "the data folder is readable by others and cannot be made private"
                ),
            }
        }
    }
    Ok(())
}

/// Writes `contents` to `path`, readable and writable by the owner only. An
/// existing file is narrowed to 0600 before anything is written into it.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // `mode` only applies to a file this call creates.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o777)
    }

    #[test]
    fn exports_are_the_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.md");
        write_private(&new, b"secret").unwrap();
        assert_eq!(mode(&new), 0o600);
        assert_eq!(std::fs::read(&new).unwrap(), b"secret");
        // An existing world-readable file is narrowed, then overwritten.
        let old = dir.path().join("old.md");
        std::fs::write(&old, b"a much longer previous content").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&old, b"new").unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"new");
    }

    #[test]
    fn the_data_folder_is_the_users_only() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("a/hearth");
        private_dir(&home).unwrap();
        assert_eq!(mode(&home), 0o700);
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&home).unwrap();
        assert_eq!(mode(&home), 0o700);
    }
}
