//! The whole rendered lock, as a reviewer would see it in a diff: a change of layout must show
//! up here and be accepted on purpose.

mod common;

use std::path::Path;

use ob_lock::Lock;

#[test]
fn full_lock_renders_as_snapshot() {
    // Start from the file with other tools' tables so they show in the snapshot too.
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lock/valid-foreign/pylock.toml");
    let lock = Lock::read(&path).unwrap();
    insta::with_settings!({filters => vec![
        (r"[0-9a-f]{64}", "[sha256]"),
    ]}, {
        insta::assert_snapshot!(lock.to_toml_string());
    });
    assert_eq!(lock.packages.len(), common::sample_lock().packages.len());
}
