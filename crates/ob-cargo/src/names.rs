//! The checks that keep a crate name, version or checksum from reaching a file name or a URL
//! with anything odd in it. Every module validates through these, so there is one rule.

use crate::CargoError;

/// Longest crate name or version accepted: cargo's own limit for names is 64, and no real
/// version comes near it.
const MAX_LEN: usize = 64;

/// ASCII alphanumerics, `-` and `_`, 1 to 64 characters.
pub(crate) fn check_name(name: &str) -> Result<(), CargoError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_LEN
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(CargoError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// ASCII alphanumerics and `.-+`, 1 to 64 characters, not starting with `.` (so no `..`
/// directory name can be made from it, even alone).
pub(crate) fn check_version(crate_name: &str, version: &str) -> Result<(), CargoError> {
    let valid = !version.is_empty()
        && version.len() <= MAX_LEN
        && !version.starts_with('.')
        && version
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'+'));
    if valid {
        Ok(())
    } else {
        Err(CargoError::InvalidVersion {
            crate_name: crate_name.to_owned(),
            version: version.to_owned(),
        })
    }
}

/// 64 lowercase hex digits, as cargo writes sha256 checksums.
pub(crate) fn check_checksum(
    crate_name: &str,
    version: &str,
    checksum: &str,
) -> Result<(), CargoError> {
    let valid = checksum.len() == 64
        && checksum
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
    if valid {
        Ok(())
    } else {
        Err(CargoError::InvalidChecksum {
            crate_name: crate_name.to_owned(),
            version: version.to_owned(),
            checksum: checksum.to_owned(),
        })
    }
}

/// All three checks, for the functions that take a crate from the caller.
pub(crate) fn check_crate(name: &str, version: &str, checksum: &str) -> Result<(), CargoError> {
    check_name(name)?;
    check_version(name, version)?;
    check_checksum(name, version, checksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "serde_json", "proc-macro2", &"x".repeat(64)] {
            check_name(good).unwrap();
        }
        for bad in ["", "../x", "a/b", "a b", "é", "a.b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions() {
        for good in ["1.0.0", "0.1.0-alpha.1", "1.0.0+build.5"] {
            check_version("c", good).unwrap();
        }
        for bad in ["", "..", ".1", "1/0", "1 0", "1.0\n"] {
            assert!(check_version("c", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checksums() {
        check_checksum("c", "1", &"ab".repeat(32)).unwrap();
        assert!(check_checksum("c", "1", &"AB".repeat(32)).is_err());
        assert!(check_checksum("c", "1", &"ab".repeat(31)).is_err());
        assert!(check_checksum("c", "1", &"zz".repeat(32)).is_err());
    }
}
