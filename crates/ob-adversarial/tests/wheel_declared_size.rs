//! A wheel is written by the package's own build, so every field of its zip is the attacker's.
//! The central directory's uncompressed size is only a claim: the validator must not size an
//! allocation by it. The wheel here is built byte by byte because no zip writer will lie.

use std::io::Write;

use base64::Engine;
use sha2::{Digest, Sha256};

const RECORD: &str = "greet-1.0.dist-info/RECORD";

/// One stored (uncompressed) entry: (name, data, declared uncompressed size for the central
/// directory; `Some` writes it as a ZIP64 extra field).
fn zip_bytes(entries: &[(&str, Vec<u8>, Option<u64>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, declared) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        // Local header: honest sizes.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&0u32.to_le_bytes()); // time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central directory entry: the declared size may lie, through ZIP64.
        let extra: Vec<u8> = match declared {
            Some(declared) => {
                let mut extra = Vec::new();
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&8u16.to_le_bytes());
                extra.extend_from_slice(&declared.to_le_bytes());
                extra
            }
            None => Vec::new(),
        };
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&45u16.to_le_bytes()); // made by
        central.extend_from_slice(&45u16.to_le_bytes()); // needed
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        let uncompressed = if declared.is_some() { u32::MAX } else { size };
        central.extend_from_slice(&uncompressed.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        central.extend_from_slice(&extra);
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn wheel_with_declared_size(dir: &std::path::Path, declared: Option<u64>) -> std::path::PathBuf {
    let data = b"x = 1\n".to_vec();
    let metadata = b"Name: greet\nVersion: 1.0\n".to_vec();
    let digest = |bytes: &[u8]| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
    };
    let record = format!(
        "greet/__init__.py,sha256={},{}\ngreet-1.0.dist-info/METADATA,sha256={},{}\n{RECORD},,\n",
        digest(&data),
        data.len(),
        digest(&metadata),
        metadata.len()
    );
    let bytes = zip_bytes(&[
        ("greet/__init__.py", data, declared),
        ("greet-1.0.dist-info/METADATA", metadata, None),
        (RECORD, record.into_bytes(), None),
    ]);
    let path = dir.join("greet-1.0-py3-none-any.whl");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    path
}

/// The hand-made zip is a real zip: with an honest size the validator accepts it, so the test
/// below fails for the lie and not for the construction.
#[test]
fn the_hand_made_wheel_is_accepted_when_it_does_not_lie() {
    let dir = tempfile::tempdir().unwrap();
    let path = wheel_with_declared_size(dir.path(), None);
    ob_build::wheel::check_wheel(&path, "greet", "1.0").unwrap();
}

/// Regression, found by this suite: `check_wheel` sized a buffer by the declared size, so a
/// ZIP64 entry that claimed 1 PiB aborted the whole process ("memory allocation failed").
#[test]
fn a_wheel_that_lies_about_an_entry_size_is_refused_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let path = wheel_with_declared_size(dir.path(), Some(1 << 50));
    let result = ob_build::wheel::check_wheel(&path, "greet", "1.0");
    assert!(result.is_err(), "{result:?}");
}
