//! What identifies a version of a file, so that configuration files can be re-read when they
//! change: a rename, a symlink swap (a ConfigMap or Secret volume's `..data`) or a rewrite
//! changes it.

use std::path::Path;

/// A file's device, inode, modification time and size, following symlinks; `None` while it
/// cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStamp(Option<(u64, u64, i64, i64, u64)>);

impl FileStamp {
    pub fn of(path: &Path) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp(
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.len())),
        )
    }
}
