from resolve import pip_command


def test_allowed_binaries_are_named_on_the_command_line_after_the_environment():
    # pip applies command-line options after PIP_NO_BINARY=:all: from the environment, so the
    # named projects end up binary-only and every other one stays source-only.
    assert pip_command.environment("http://127.0.0.1:1/simple/")["PIP_NO_BINARY"] == ":all:"
    argv = pip_command.arguments("report.json", "requirements.txt", None, ("demo", "other-one"))
    assert argv[-2:] == ["--only-binary", "demo,other-one"]


def test_without_allowed_binaries_pip_gets_no_only_binary():
    argv = pip_command.arguments("report.json", "requirements.txt", "constraints.txt")
    assert "--only-binary" not in argv
    assert argv[-2:] == ["-c", "constraints.txt"]
