//! What identifies a version of a file, so that configuration files can be re-read when they
//! change: a rename, a symlink swap (a ConfigMap or Secret volume's `..data`) or a rewrite
//! changes it.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a watched configuration file is checked for changes (one `stat`).
pub const POLL: Duration = Duration::from_secs(1);

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

/// A file checked every [`POLL`] for a new version.
pub struct Polled {
    path: PathBuf,
    stamp: FileStamp,
}

impl Polled {
    /// Its version now is the one already seen.
    pub fn new(path: PathBuf) -> Self {
        let stamp = FileStamp::of(&path);
        Polled { path, stamp }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns once the file's version differs from the last one seen.
    pub async fn changed(&mut self) {
        loop {
            tokio::time::sleep(POLL).await;
            let now = FileStamp::of(&self.path);
            if now != self.stamp {
                self.stamp = now;
                return;
            }
        }
    }
}
