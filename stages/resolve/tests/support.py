"""Test data: trimmed pip 25.1.1 reports and outputs captured in the builder image against a
stand-in index (see data/README.md)."""

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
PROTOCOL = Path(__file__).parents[2] / "protocol"


def report(name):
    return json.loads((DATA / f"report-{name}.json").read_text())


def pip_output(name):
    return (DATA / f"pip-{name}.txt").read_text()
