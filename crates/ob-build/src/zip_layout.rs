//! A wheel must be one zip archive that every reader reads the same way.
//!
//! The validator reads a wheel with the zip crate; pip installs it with Python's `zipfile`. The
//! two disagree on files that are more than one archive: bytes before the first entry or between
//! entries (Python shifts every offset by what it finds prepended), a second end record, a
//! comment that hides one, two entries of one name (each keeps a different one), a local header
//! that names another file or size than the central directory, names whose encoding is not
//! declared. A build could then make a decoy pass the validator while pip installs another
//! archive. So before either reader looks, the raw bytes must tile exactly:
//!
//! `[local header, name, extra, data, (descriptor)]*  central directory  [zip64 end, locator]  end`
//!
//! with the end record at the very end and no comment, every entry's local header agreeing with
//! its directory record, names unique, ASCII unless flagged UTF-8, and only stored or deflated,
//! unencrypted data. Real wheels (from `wheel`, setuptools, flit, hatchling, maturin, pip) are
//! all written this way.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;

/// Most bytes a central directory may take: a million entries with long names fit.
const MAX_DIRECTORY_BYTES: u64 = 256 << 20;

/// One central directory record, as far as the layout is concerned.
struct Record {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

/// Extra fields a wheel's entries may carry: zip64 sizes, NTFS, extended and Info-ZIP Unix
/// times and owners. Everything else is refused, in particular the Info-ZIP Unicode Path field
/// (0x7075), by which the zip crate renames an entry and Python's zipfile does not, and the AES
/// field (0x9901), by which the zip crate changes an entry's compression method.
const ALLOWED_EXTRA: &[u16] = &[0x0001, 0x000a, 0x5455, 0x5855, 0x7855, 0x7875];

/// An entry as this layout reads it, for a reader to be checked against: its raw name and the
/// offset of its local header, in central directory order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The name's bytes, as in both headers.
    pub name: Vec<u8>,
    /// Where its local header starts.
    pub offset: u64,
}

/// Checks that `file` (of `len` bytes) is laid out as one plain zip archive, and returns its
/// entries in central directory order; the error says what is wrong.
pub fn check_layout(file: &mut (impl Read + Seek), len: u64) -> Result<Vec<Placed>, String> {
    let (directory_offset, directory_size, entries, directory_end) = end_records(file, len)?;
    if directory_size > MAX_DIRECTORY_BYTES {
        return Err(format!(
            "its central directory is {directory_size} bytes, more than {} MiB",
            MAX_DIRECTORY_BYTES >> 20
        ));
    }
    if directory_offset.checked_add(directory_size) != Some(directory_end) {
        return Err(format!(
            "its central directory ends at byte {}, but what follows it starts at {directory_end}",
            directory_offset.saturating_add(directory_size)
        ));
    }
    let directory = read_at(file, directory_offset, directory_size)?;
    let records = parse_directory(&directory, entries)?;

    let mut names = BTreeSet::new();
    for record in &records {
        if !names.insert(record.name.as_slice()) {
            return Err(format!(
                "the entry `{}` appears twice",
                String::from_utf8_lossy(&record.name)
            ));
        }
    }
    // Entries in the order they sit in the file, each starting where the one before ended.
    let mut order: Vec<&Record> = records.iter().collect();
    order.sort_by_key(|record| record.offset);
    let mut next = 0u64;
    for record in order {
        if record.offset != next {
            return Err(format!(
                "`{}` starts at byte {}, but the entry before it ends at {next} (bytes that no \
                 entry accounts for, or entries that overlap)",
                String::from_utf8_lossy(&record.name),
                record.offset
            ));
        }
        next = local_entry_end(file, record, directory_offset)?;
    }
    if next != directory_offset {
        return Err(format!(
            "its last entry ends at byte {next}, but the central directory starts at \
             {directory_offset}"
        ));
    }
    Ok(records
        .into_iter()
        .map(|record| Placed {
            name: record.name,
            offset: record.offset,
        })
        .collect())
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn read_at(file: &mut (impl Read + Seek), offset: u64, len: u64) -> Result<Vec<u8>, String> {
    file.seek(SeekFrom::Start(offset))
        .map_err(|err| err.to_string())?;
    let mut bytes = Vec::new();
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    if bytes.len() as u64 != len {
        return Err(format!("it ends inside a record at byte {offset}"));
    }
    Ok(bytes)
}

/// The central directory's offset, size and entry count, and where the directory must end (at
/// the zip64 end record if there is one, else at the end record).
fn end_records(file: &mut (impl Read + Seek), len: u64) -> Result<(u64, u64, u64, u64), String> {
    if len < 22 {
        return Err("it is too short to be a zip archive".into());
    }
    let end_at = len - 22;
    let end = read_at(file, end_at, 22)?;
    if u32_at(&end, 0) != END {
        return Err(
            "it does not end with a zip end record (a comment, or bytes after the archive)".into(),
        );
    }
    if u16_at(&end, 20) != 0 {
        return Err("its end record carries a comment".into());
    }
    let (disk, directory_disk) = (u16_at(&end, 4), u16_at(&end, 6));
    let (here, total) = (u16_at(&end, 8), u16_at(&end, 10));
    let (size, offset) = (u32_at(&end, 12), u32_at(&end, 16));
    if disk != 0 || directory_disk != 0 || here != total {
        return Err("it claims to span several disks".into());
    }
    let needs64 = total == u16::MAX || size == u32::MAX || offset == u32::MAX;
    let locator = (end_at >= 20)
        .then(|| read_at(file, end_at - 20, 20))
        .transpose()?
        .filter(|locator| u32_at(locator, 0) == LOCATOR64);
    let Some(locator) = locator else {
        if needs64 {
            return Err("its end record needs a zip64 record, and there is none".into());
        }
        return Ok((offset.into(), size.into(), total.into(), end_at));
    };
    if u32_at(&locator, 4) != 0 || u32_at(&locator, 16) != 1 {
        return Err("its zip64 locator claims several disks".into());
    }
    let record_at = u64_at(&locator, 8);
    if record_at.checked_add(56) != Some(end_at - 20) {
        return Err("its zip64 end record is not where the locator says, just before it".into());
    }
    let record = read_at(file, record_at, 56)?;
    if u32_at(&record, 0) != END64 || u64_at(&record, 4) != 44 {
        return Err("its zip64 end record is damaged or carries extra data".into());
    }
    let (disk64, directory_disk64) = (u32_at(&record, 16), u32_at(&record, 20));
    let (here64, total64) = (u64_at(&record, 24), u64_at(&record, 32));
    let (size64, offset64) = (u64_at(&record, 40), u64_at(&record, 48));
    if disk64 != 0 || directory_disk64 != 0 || here64 != total64 {
        return Err("its zip64 end record claims several disks".into());
    }
    // Where both records give a value, they must give the same one.
    let agrees = |short: u64, max: u64, long: u64| short == max || short == long;
    if !agrees(total.into(), u16::MAX.into(), total64)
        || !agrees(size.into(), u32::MAX.into(), size64)
        || !agrees(offset.into(), u32::MAX.into(), offset64)
    {
        return Err("its end record and zip64 end record disagree".into());
    }
    Ok((offset64, size64, total64, record_at))
}

fn parse_directory(directory: &[u8], entries: u64) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < directory.len() {
        let fixed = directory
            .get(at..at + 46)
            .ok_or("its central directory ends inside a record")?;
        if u32_at(fixed, 0) != CENTRAL {
            return Err(format!(
                "its central directory holds something other than records at byte {at} of it"
            ));
        }
        let flags = u16_at(fixed, 8);
        let method = u16_at(fixed, 10);
        let crc = u32_at(fixed, 16);
        let mut compressed = u64::from(u32_at(fixed, 20));
        let mut size = u64::from(u32_at(fixed, 24));
        let (name_len, extra_len, comment_len) = (
            usize::from(u16_at(fixed, 28)),
            usize::from(u16_at(fixed, 30)),
            usize::from(u16_at(fixed, 32)),
        );
        let disk = u16_at(fixed, 34);
        let mut offset = u64::from(u32_at(fixed, 42));
        let variable = directory
            .get(at + 46..at + 46 + name_len + extra_len + comment_len)
            .ok_or("its central directory ends inside a record")?;
        let name = variable[..name_len].to_vec();
        let shown = String::from_utf8_lossy(&name).into_owned();
        let extra = &variable[name_len..name_len + extra_len];
        if comment_len != 0 {
            return Err(format!("the entry `{shown}` carries a comment"));
        }
        check_entry_kind(&shown, &name, flags, method)?;
        let zip64 = zip64_values(extra, [&mut size, &mut compressed, &mut offset])
            .map_err(|why| format!("the entry `{shown}`: {why}"))?;
        if disk != 0 && !(disk == u16::MAX && zip64) {
            return Err(format!("the entry `{shown}` claims another disk"));
        }
        records.push(Record {
            name,
            flags,
            method,
            crc,
            compressed,
            size,
            offset,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    if records.len() as u64 != entries {
        return Err(format!(
            "its end record counts {entries} entries, its central directory holds {}",
            records.len()
        ));
    }
    Ok(records)
}

fn check_entry_kind(shown: &str, name: &[u8], flags: u16, method: u16) -> Result<(), String> {
    if flags & 0x0001 != 0 {
        return Err(format!("the entry `{shown}` is encrypted"));
    }
    if method != 0 && method != 8 {
        return Err(format!(
            "the entry `{shown}` uses compression method {method}; a wheel's entries are \
             stored or deflated"
        ));
    }
    if flags & 0x0800 == 0 && !name.is_ascii() {
        return Err(format!(
            "the entry `{shown}` has a name that is not ASCII and not marked UTF-8, which readers \
             decode differently"
        ));
    }
    if flags & 0x0800 != 0 && std::str::from_utf8(name).is_err() {
        return Err(format!("the entry `{shown}` is marked UTF-8 and is not"));
    }
    Ok(())
}

/// Replaces the values the fixed fields mark as too large (all ones) with the zip64 extra
/// field's, in its order (size, compressed size, offset); whether there was one.
fn zip64_values(extra: &[u8], values: [&mut u64; 3]) -> Result<bool, &'static str> {
    let mut at = 0usize;
    let mut field = None;
    while at + 4 <= extra.len() {
        let (id, len) = (u16_at(extra, at), usize::from(u16_at(extra, at + 2)));
        let data = extra
            .get(at + 4..at + 4 + len)
            .ok_or("its extra field is cut short")?;
        if !ALLOWED_EXTRA.contains(&id) {
            return Err(match id {
                0x7075 => {
                    "it carries a Unicode Path extra field, which renames it for some readers only"
                }
                0x9901 => "it carries an AES extra field",
                _ => "it carries an extra field of a kind wheels do not use",
            });
        }
        if id == 0x0001 {
            if field.is_some() {
                return Err("it has two zip64 fields");
            }
            field = Some(data);
        }
        at += 4 + len;
    }
    if at != extra.len() {
        return Err("its extra field is cut short");
    }
    let mut data = field.unwrap_or_default();
    for value in values {
        if *value == u64::from(u32::MAX) {
            let Some(long) = data.get(..8) else {
                return Err("it marks a size or offset as zip64 and has no zip64 value for it");
            };
            *value = u64_at(long, 0);
            data = &data[8..];
        }
    }
    Ok(field.is_some())
}

/// Where the entry of `record` ends (after its data and descriptor), once its local header was
/// found to agree with `record`.
fn local_entry_end(
    file: &mut (impl Read + Seek),
    record: &Record,
    limit: u64,
) -> Result<u64, String> {
    let shown = String::from_utf8_lossy(&record.name).into_owned();
    let fixed = read_at(file, record.offset, 30)
        .map_err(|_| format!("the entry `{shown}` has no local header"))?;
    if u32_at(&fixed, 0) != LOCAL {
        return Err(format!(
            "the entry `{shown}` has no local header where it should"
        ));
    }
    let (flags, method) = (u16_at(&fixed, 6), u16_at(&fixed, 8));
    let (name_len, extra_len) = (u64::from(u16_at(&fixed, 26)), u64::from(u16_at(&fixed, 28)));
    let variable = read_at(file, record.offset + 30, name_len + extra_len)?;
    let (name, extra) = variable.split_at(name_len as usize);
    let disagrees = |what: &str| format!("the entry `{shown}`'s local header gives another {what}");
    if name != record.name.as_slice() {
        return Err(disagrees("name"));
    }
    if flags != record.flags || method != record.method {
        return Err(disagrees("flags or compression method"));
    }
    let data_at = record.offset + 30 + name_len + extra_len;
    let data_end = data_at
        .checked_add(record.compressed)
        .filter(|end| *end <= limit)
        .ok_or_else(|| format!("the entry `{shown}`'s data runs past its place"))?;
    if flags & 0x0008 == 0 {
        let mut compressed = u64::from(u32_at(&fixed, 18));
        let mut size = u64::from(u32_at(&fixed, 22));
        let mut unused = 0u64;
        zip64_values(extra, [&mut size, &mut compressed, &mut unused])
            .map_err(|why| format!("the entry `{shown}`'s local header: {why}"))?;
        if u32_at(&fixed, 14) != record.crc {
            return Err(disagrees("CRC"));
        }
        if compressed != record.compressed || size != record.size {
            return Err(disagrees("size"));
        }
        return Ok(data_end);
    }
    // A data descriptor after the data: signed or not, 32- or 64-bit sizes. The first reading
    // that agrees with the directory counts; a wrong one leaves the next entry misplaced, which
    // is refused. No reader of the archive reads the descriptor itself.
    let tail = read_at(file, data_end, 24.min(limit - data_end))?;
    let readings = [
        (true, false, 16usize),
        (false, false, 12),
        (true, true, 24),
        (false, true, 20),
    ];
    for (signed, wide, len) in readings {
        let Some(bytes) = tail.get(..len) else {
            continue;
        };
        let mut at = 0;
        if signed {
            if u32_at(bytes, 0) != DESCRIPTOR {
                continue;
            }
            at = 4;
        }
        let crc = u32_at(bytes, at);
        let (compressed, size) = if wide {
            (u64_at(bytes, at + 4), u64_at(bytes, at + 12))
        } else {
            (
                u64::from(u32_at(bytes, at + 4)),
                u64::from(u32_at(bytes, at + 8)),
            )
        };
        if crc == record.crc && compressed == record.compressed && size == record.size {
            return Ok(data_end + len as u64);
        }
    }
    Err(format!(
        "the entry `{shown}`'s data descriptor disagrees with the central directory"
    ))
}
