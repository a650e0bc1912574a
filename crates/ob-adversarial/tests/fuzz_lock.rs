//! Fuzzing the lockfile reader with structured mutations of a valid lock (values swapped for
//! other types, keys deleted or invented, packages duplicated or dropped, strings bent towards
//! traversal and bad hashes). `ob-lock`'s own `garbage.rs` covers truncation and random bytes;
//! this goes through the shapes a hand edit or a hostile lock would take.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use ob_lock::Lock;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use support::fuzz::{Tally, bounded, config};
use toml::Value;

fn valid_lock() -> Value {
    let text =
        std::fs::read_to_string(ob_testkit::repo_root().join("fixtures/lock/valid/pylock.toml"))
            .unwrap();
    assert!(Lock::from_toml_str(&text, Path::new("pylock.toml")).is_ok());
    Value::Table(toml::from_str::<toml::Table>(&text).unwrap())
}

/// One edit. Indices pick among the value tree's nodes modulo their count, so every edit
/// applies to any lock.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, Value),
    Delete(usize),
    Insert(usize, String, Value),
    BendString(usize, u8),
    Duplicate(usize),
    Swap(usize, usize, usize),
}

fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("../../etc/passwd".to_owned()),
        Just("/etc/passwd".to_owned()),
        Just("idna-3.10.tar.gz".to_owned()),
        Just("idna-3.10-py3-none-any.whl".to_owned()),
        Just("file:///etc/passwd".to_owned()),
        Just("http://user:secret@127.0.0.1:8000/x.tar.gz".to_owned()),
        Just("http://192.0.2.1/x.tar.gz".to_owned()),
        Just("git+https://127.0.0.1/repo".to_owned()),
        Just("03A49CD658642B57C4252644B212332D5F25B0624C9625F3687062B0BA0BD529".to_owned()),
        Just("sha256:516257abd6d79e086e24e9a1b86cb7c60f6cc387364c92b49e857edd676c8a52".to_owned()),
        Just("flit-core==3.12.0".to_owned()),
        Just("setuptools>=1".to_owned()),
        Just("'build' in dependency_groups".to_owned()),
        Just("python_version < '3'".to_owned()),
        Just("1.0".to_owned()),
        Just("\u{0}\u{feff}\u{202e}".to_owned()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        interesting_string().prop_map(Value::String),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(i64::MAX),
            Just(i64::MIN),
            any::<i64>()
        ]
        .prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Boolean),
        prop_oneof![Just(f64::NAN), Just(1.5), Just(f64::INFINITY)].prop_map(Value::Float),
        prop_oneof![
            Just("2024-09-15T17:06:07Z"),
            Just("2024-09-15T17:06:07"),
            Just("2024-09-15"),
            Just("17:06:07")
        ]
        .prop_map(|text| Value::Datetime(text.parse().unwrap())),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z-]{1,12}", inner, 0..3)
                .prop_map(|map| Value::Table(map.into_iter().collect())),
        ]
    })
}

fn edit() -> impl Strategy<Value = Edit> {
    let key = prop_oneof![
        Just("name".to_owned()),
        Just("version".to_owned()),
        Just("sdist".to_owned()),
        Just("wheels".to_owned()),
        Just("vcs".to_owned()),
        Just("directory".to_owned()),
        Just("build-requires".to_owned()),
        Just("path".to_owned()),
        Just("url".to_owned()),
        Just("hashes".to_owned()),
        Just("unknown-key".to_owned()),
        "[a-z-]{1,12}",
    ];
    prop_oneof![
        (any::<usize>(), any_value()).prop_map(|(at, value)| Edit::Replace(at, value)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), key, any_value())
            .prop_map(|(at, key, value)| Edit::Insert(at, key, value)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, how)| Edit::BendString(at, how)),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(at, i, j)| Edit::Swap(at, i, j)),
    ]
}

/// Every node of the tree in a fixed order: the path of keys and indices to it.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn nodes(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(path.clone());
    match value {
        Value::Table(table) => {
            for (key, child) in table {
                path.push(Step::Key(key.clone()));
                nodes(child, path, out);
                path.pop();
            }
        }
        Value::Array(array) => {
            for (index, child) in array.iter().enumerate() {
                path.push(Step::Index(index));
                nodes(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(mut value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    for step in path {
        value = match (step, value) {
            (Step::Key(key), Value::Table(table)) => table.get_mut(key).unwrap(),
            (Step::Index(index), Value::Array(array)) => &mut array[*index],
            _ => unreachable!("paths come from the same tree"),
        };
    }
    value
}

fn pick(root: &Value, at: usize) -> Vec<Step> {
    let mut all = Vec::new();
    nodes(root, &mut Vec::new(), &mut all);
    all.swap_remove(at % all.len())
}

fn apply(root: &mut Value, edit: &Edit) {
    match edit {
        Edit::Replace(at, value) => {
            let path = pick(root, *at);
            if !path.is_empty() {
                *node_mut(root, &path) = value.clone();
            }
        }
        Edit::Delete(at) => {
            let path = pick(root, *at);
            if let Some((last, parent)) = path.split_last() {
                match (last, node_mut(root, parent)) {
                    (Step::Key(key), Value::Table(table)) => {
                        table.remove(key);
                    }
                    (Step::Index(index), Value::Array(array)) => {
                        array.remove(*index);
                    }
                    _ => {}
                }
            }
        }
        Edit::Insert(at, key, value) => {
            let path = pick(root, *at);
            if let Value::Table(table) = node_mut(root, &path) {
                table.insert(key.clone(), value.clone());
            }
        }
        Edit::BendString(at, how) => {
            let path = pick(root, *at);
            if let Value::String(text) = node_mut(root, &path) {
                *text = match how % 8 {
                    0 => text.to_ascii_uppercase(),
                    1 => format!("../{text}"),
                    2 => format!("/{text}"),
                    3 => text.chars().take(text.chars().count() / 2).collect(),
                    4 => format!("{text}x"),
                    5 => text.replace(['-', '.'], "_"),
                    6 => format!("{text}/../../x"),
                    _ => format!(" {text}\n"),
                };
            }
        }
        Edit::Duplicate(at) => {
            let path = pick(root, *at);
            if let Value::Array(array) = node_mut(root, &path)
                && let Some(first) = array.first().cloned()
            {
                array.push(first);
            }
        }
        Edit::Swap(at, i, j) => {
            let path = pick(root, *at);
            if let Value::Array(array) = node_mut(root, &path)
                && !array.is_empty()
            {
                let len = array.len();
                array.swap(i % len, j % len);
            }
        }
    }
}

static TALLY: Tally = Tally::new("lock");

/// What later stages rely on from any lock the reader accepts.
fn assert_sound(lock: &Lock, text: &str) {
    lock.validate()
        .unwrap_or_else(|error| panic!("accepted but invalid: {error}\n{text}"));
    let rendered = lock.to_toml_string();
    let back = Lock::from_toml_str(&rendered, Path::new("pylock.toml"))
        .unwrap_or_else(|error| panic!("our own rendering is refused: {error}\n{rendered}"));
    // Packages keep the order they were read in; the rendering sorts, so compare renderings.
    assert_eq!(back.to_toml_string(), rendered, "{text}");
    assert_eq!(back.packages.len(), lock.packages.len());
    let mut names = BTreeSet::new();
    for package in &lock.packages {
        assert!(
            names.insert(&package.name),
            "duplicate {}\n{text}",
            package.name
        );
        let sha = &package.sdist.sha256;
        assert!(
            sha.len() == 64
                && sha
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "accepted sha256 `{sha}`\n{text}"
        );
        let filename = &package.sdist.filename;
        assert!(
            !filename.contains('/') && !filename.contains('\\') && !filename.contains(".."),
            "accepted sdist file name `{filename}`\n{text}"
        );
        assert!(!filename.ends_with(".whl"), "a wheel was accepted\n{text}");
    }
}

#[test]
fn structured_mutations_of_a_valid_lock_never_panic_and_what_is_accepted_is_sound() {
    let base = valid_lock();
    let mut runner = TestRunner::new(config(300));
    runner
        .run(&prop::collection::vec(edit(), 1..5), |edits| {
            let mut root = base.clone();
            for edit in &edits {
                apply(&mut root, edit);
            }
            let Ok(text) = toml::to_string(&root) else {
                // Not every tree is a TOML document (a float NaN key order etc.); nothing to read.
                return Ok(());
            };
            let accepted = bounded("Lock::from_toml_str", move || {
                match Lock::from_toml_str(&text, Path::new("fuzz/pylock.toml")) {
                    Ok(lock) => {
                        assert_sound(&lock, &text);
                        true
                    }
                    Err(error) => {
                        let message = error.to_string();
                        assert!(message.contains("fuzz/pylock.toml"), "{message}");
                        false
                    }
                }
            });
            TALLY.record(accepted);
            Ok(())
        })
        .unwrap();
    let (executions, _accepted) = TALLY.report();
    assert!(executions > 0);
}

#[test]
fn the_unmutated_fixture_is_accepted() {
    let text = toml::to_string(&valid_lock()).unwrap();
    let lock = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    assert_sound(&lock, &text);
}
