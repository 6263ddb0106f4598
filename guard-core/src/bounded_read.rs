//! Reading operator-named files with a size bound: a path that points at `/dev/zero`, a FIFO or a
//! runaway file must end in an error, not in memory exhaustion.

use std::io::Read;
use std::path::Path;

/// Why a bounded read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    /// More than the limit (the file may be larger still, or never end).
    TooLarge,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => e.fmt(f),
            Self::TooLarge => f.write_str("larger than the size limit"),
        }
    }
}

/// The whole file, or an error when it cannot be read or holds more than `limit` bytes.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_are_read_and_large_ones_refused() {
        let dir = std::env::temp_dir().join(format!("guard-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_bounded(&p, 10).unwrap(), b"0123456789");
        assert!(matches!(read_bounded(&p, 9), Err(ReadError::TooLarge)));
        assert!(read_bounded(&dir.join("missing"), 10).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_never_ends_is_refused() {
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 1 << 16),
            Err(ReadError::TooLarge)
        ));
    }
}
