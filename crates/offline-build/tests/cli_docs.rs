//! docs/cli.md carries every command's `--help` text between two markers; this test regenerates
//! that block from the binary and fails when the two differ, so the reference cannot drift from
//! the flags. `OB_BLESS=1 cargo test -p offline-build --test cli_docs` rewrites the block.

use std::path::PathBuf;
use std::process::Command;

const BEGIN: &str = "<!-- BEGIN GENERATED: cargo test -p offline-build --test cli_docs -->";
const END: &str = "<!-- END GENERATED -->";

fn help(path: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(path)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .expect("run offline-build --help");
    assert!(output.status.success(), "--help failed for {path:?}");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// Names listed under `Commands:` in a help text, without clap's own `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // A name sits at column 2; deeper lines continue a wrapped description.
        .filter(|line| line.starts_with("  ") && !line[2..].starts_with(' '))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

fn render(path: Vec<String>, out: &mut String) {
    let text = help(&path);
    let title = if path.is_empty() {
        "offline-build".to_string()
    } else {
        format!("offline-build {}", path.join(" "))
    };
    out.push_str(&format!(
        "### `{title}`\n\n```text\n{}\n```\n\n",
        text.trim_end()
    ));
    for name in subcommands(&text) {
        let mut child = path.clone();
        child.push(name);
        render(child, out);
    }
}

#[test]
fn docs_cli_md_matches_the_help_of_every_command() {
    let mut generated = String::new();
    render(Vec::new(), &mut generated);
    assert!(
        generated.contains("### `offline-build image create`"),
        "recursion found no subcommands"
    );

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
    let doc = std::fs::read_to_string(&path).expect("read docs/cli.md");
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("docs/cli.md has the BEGIN marker");
    let (current, tail) = rest
        .split_once(END)
        .expect("docs/cli.md has the END marker");
    let expected = format!("\n\n{generated}");
    if current != expected {
        if std::env::var_os("OB_BLESS").is_some() {
            std::fs::write(&path, format!("{head}{BEGIN}{expected}{END}{tail}"))
                .expect("write docs/cli.md");
        } else {
            panic!(
                "docs/cli.md is out of date with the CLI's --help text\n\n\
                 hint: run `OB_BLESS=1 cargo test -p offline-build --test cli_docs` and review the diff"
            );
        }
    }
}
