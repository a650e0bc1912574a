//! Garbage in never panics: truncated files, random bytes, every value swapped for every other
//! TOML type, every line deleted. Each input must give a lock or an error, and an error that
//! names the file.

use std::path::Path;

use ob_lock::Lock;

fn valid_text() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lock/valid-foreign/pylock.toml");
    std::fs::read_to_string(path).unwrap()
}

/// Parses and, on success, renders: both must be total functions, and whatever is accepted
/// must read back as the same lock from what we write.
fn try_lock(text: &str) -> bool {
    match Lock::from_toml_str(text, Path::new("garbage/pylock.toml")) {
        Ok(lock) => {
            let rendered = lock.to_toml_string();
            let back = Lock::from_toml_str(&rendered, Path::new("garbage/pylock.toml"))
                .unwrap_or_else(|error| panic!("{error}\nfrom input:\n{text}"));
            assert_eq!(back, lock, "from input:\n{text}");
            assert_eq!(back.to_toml_string(), rendered);
            true
        }
        Err(error) => {
            assert!(error.to_string().contains("garbage/pylock.toml"), "{error}");
            false
        }
    }
}

#[test]
fn every_truncation_is_handled() {
    let text = valid_text();
    let mut accepted = 0;
    for end in (0..text.len()).filter(|end| text.is_char_boundary(*end)) {
        if try_lock(&text[..end]) {
            accepted += 1;
        }
    }
    // Only cuts inside the trailing foreign tables can still be complete locks.
    assert!(accepted < 200, "{accepted} truncations accepted");
    assert!(try_lock(&text));
}

#[test]
fn random_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pylock.toml");
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for length in [0usize, 1, 7, 64, 1000, 10_000] {
        for _ in 0..20 {
            let bytes: Vec<u8> = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            std::fs::write(&path, &bytes).unwrap();
            let error = Lock::read(&path).unwrap_err();
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "{error}"
            );
            assert!(!try_lock(&String::from_utf8_lossy(&bytes)));
        }
    }
}

#[test]
fn every_value_of_every_wrong_type_is_handled() {
    let text = valid_text();
    let replacements = [
        "1",
        "-1",
        "9223372036854775807",
        "0.5",
        "nan",
        "true",
        "\"\"",
        "\"x\"",
        "[]",
        "[1, \"a\"]",
        "[[]]",
        "{}",
        "{ a = 1 }",
        "1979-05-27T07:32:00Z",
        "1979-05-27",
        "07:32:00",
    ];
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        for replacement in replacements {
            let mut mutated = lines.clone();
            let new_line = format!("{key} = {replacement}");
            mutated[index] = &new_line;
            try_lock(&mutated.join("\n"));
        }
    }
}

#[test]
fn every_deleted_line_is_handled() {
    let text = valid_text();
    let lines: Vec<&str> = text.lines().collect();
    for index in 0..lines.len() {
        let mut mutated = lines.clone();
        mutated.remove(index);
        try_lock(&mutated.join("\n"));
    }
}

/// Deep nesting must be refused by the parser's recursion limit, not overflow the stack.
#[test]
fn deeply_nested_values_are_refused() {
    let depth = 100_000;
    let arrays = format!("x = {}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(!try_lock(&arrays));
    let tables = format!("x = {}1{}", "{ a = ".repeat(depth), " }".repeat(depth));
    assert!(!try_lock(&tables));
    let dotted = format!("{} = 1", vec!["a"; depth].join("."));
    assert!(!try_lock(&dotted));
}

/// Deep nesting in another tool's table of an otherwise valid lock is carried through or
/// refused, never a crash.
#[test]
fn deeply_nested_foreign_tables_are_handled() {
    for depth in [10, 100, 1_000, 10_000] {
        let text = format!(
            "{}\n[tool.other]\n{} = 1\n",
            valid_text(),
            vec!["a"; depth].join(".")
        );
        try_lock(&text);
        let text = format!(
            "{}\n[tool.other]\nx = {}1{}\n",
            valid_text(),
            "[".repeat(depth),
            "]".repeat(depth)
        );
        try_lock(&text);
    }
}
