//! Wheels made here, as an upstream project would publish them: for the tests of `allow-binary`,
//! where a release is taken as its index wheel instead of being built. Deterministic: one
//! input gives the same bytes.

use std::io::Write as _;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A pure-Python wheel `{distribution}-{version}-py3-none-any.whl` holding `files` (path, bytes)
/// plus its METADATA (with `requires_dist`), WHEEL and a RECORD that is true. Returns the file
/// name and the bytes.
pub fn pure_wheel(
    distribution: &str,
    version: &str,
    files: &[(&str, &[u8])],
    requires_dist: &[&str],
) -> (String, Vec<u8>) {
    let dist_info = format!("{distribution}-{version}.dist-info");
    let mut metadata = format!("Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n");
    for requirement in requires_dist {
        metadata.push_str(&format!("Requires-Dist: {requirement}\n"));
    }
    let wheel =
        "Wheel-Version: 1.0\nGenerator: ob-testkit\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let mut entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(path, bytes)| ((*path).to_owned(), bytes.to_vec()))
        .collect();
    entries.push((format!("{dist_info}/METADATA"), metadata.into_bytes()));
    entries.push((format!("{dist_info}/WHEEL"), wheel.as_bytes().to_vec()));
    let mut record = String::new();
    for (path, bytes) in &entries {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!("{path},sha256={digest},{}\n", bytes.len()));
    }
    let record_path = format!("{dist_info}/RECORD");
    record.push_str(&format!("{record_path},,\n"));
    entries.push((record_path, record.into_bytes()));

    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut archive = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        for (path, bytes) in &entries {
            archive
                .start_file(path.as_str(), options)
                .unwrap_or_else(|err| panic!("zip entry `{path}`: {err}"));
            archive
                .write_all(bytes)
                .unwrap_or_else(|err| panic!("zip entry `{path}`: {err}"));
        }
        archive
            .finish()
            .unwrap_or_else(|err| panic!("zip of `{distribution}`: {err}"));
    }
    (
        format!("{distribution}-{version}-py3-none-any.whl"),
        out.into_inner(),
    )
}
