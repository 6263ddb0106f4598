//! Reading operator-named files with a size bound: a path that points at `/dev/zero`, a FIFO or a
//! runaway file must end in an error, not in memory exhaustion.

use std::io::Read;
use std::path::Path;

/// The whole file, or an error when it cannot be read or holds more than `limit` bytes.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than the {limit}-byte limit"));
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
        assert!(read_bounded(&p, 9).unwrap_err().contains("9-byte limit"));
        assert!(read_bounded(&dir.join("missing"), 10).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_never_ends_is_refused() {
        assert!(read_bounded(Path::new("/dev/zero"), 1 << 16)
            .unwrap_err()
            .contains("limit"));
    }
}
