//! Opening an sdist's `.tar.gz` on the host, as data, with every cost bounded.
//!
//! The tar reader reads each extension header (a GNU long name or long link, a PAX header)
//! whole into memory before the member it describes, however large its header says it is: one
//! hostile "name" of 4 GiB, which gzip shrinks to a few MiB, would be 4 GiB of memory. So an
//! archive is first read raw, where those headers are members like any other and are skipped
//! without being held, and refused if one is larger than [`MAX_EXTENSION_HEADER_BYTES`]; only
//! then is it opened for its members.

use std::io::Read;
use std::path::Path;

/// Most an extension header may hold. Real ones are a path or a few PAX records (well under a
/// KiB); Linux paths end at 4 KiB.
pub const MAX_EXTENSION_HEADER_BYTES: u64 = 1 << 20;

/// The decompressed stream of the `.tar.gz` at `path`, cut at `cap` bytes.
pub type TarGz =
    tar::Archive<std::io::Take<flate2::read::GzDecoder<std::io::BufReader<fs_err::File>>>>;

/// The `.tar.gz` at `path`, opened for its members once its extension headers were found
/// bounded. `cap` bounds the decompressed bytes of each of the two reads. Errors say what is
/// wrong with the archive, for a message that names it.
pub fn open_tar_gz(path: &Path, cap: u64) -> Result<TarGz, String> {
    let mut raw = open(path, cap)?;
    let entries = raw
        .entries()
        .map_err(|err| format!("not a tar.gz: {err}"))?
        .raw(true);
    for entry in entries {
        let entry = entry.map_err(|err| format!("not a readable tar.gz: {err}"))?;
        let kind = entry.header().entry_type();
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        let size = entry.header().entry_size().unwrap_or(u64::MAX);
        if extension && size > MAX_EXTENSION_HEADER_BYTES {
            return Err(format!(
                "it holds an extension header (a long name or PAX header) of {size} bytes, more \
                 than the {} KiB a real one needs",
                MAX_EXTENSION_HEADER_BYTES >> 10
            ));
        }
    }
    open(path, cap)
}

fn open(path: &Path, cap: u64) -> Result<TarGz, String> {
    let file = fs_err::File::open(path).map_err(|err| err.to_string())?;
    let decoder = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    Ok(tar::Archive::new(decoder.take(cap)))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A `.tar.gz` whose first member is a GNU long-name header of `name_bytes` bytes of `a`,
    /// followed by `pkg/PKG-INFO`.
    fn archive(dir: &Path, name_bytes: usize) -> std::path::PathBuf {
        let path = dir.join("longname-1.0.tar.gz");
        let encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut builder = tar::Builder::new(encoder);
        let mut long = tar::Header::new_gnu();
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(name_bytes as u64);
        long.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        long.set_cksum();
        builder
            .append(&long, std::io::repeat(b'a').take(name_bytes as u64))
            .unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_mode(0o644);
        header.set_path("pkg/PKG-INFO").unwrap();
        header.set_cksum();
        builder.append(&header, &b"x: y"[..]).unwrap();
        builder
            .into_inner()
            .unwrap()
            .finish()
            .unwrap()
            .flush()
            .unwrap();
        path
    }

    #[test]
    fn a_long_name_past_the_cap_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = archive(dir.path(), 8 << 20);
        let err = open_tar_gz(&path, 1 << 30).err().expect("refused");
        assert!(err.contains("extension header"), "{err}");
        assert!(err.contains("8388608 bytes"), "{err}");
    }

    #[test]
    fn a_real_long_name_still_names_its_member() {
        let dir = tempfile::tempdir().unwrap();
        let path = archive(dir.path(), 300);
        let mut archive = open_tar_gz(&path, 1 << 30).unwrap();
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|entry| entry.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["a".repeat(300)]);
    }
}
