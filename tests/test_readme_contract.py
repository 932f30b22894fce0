"""The README's commands and the CLI agree (STYLE.md: docs that tests keep honest)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from storedesk_cli import build_parser

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
COMMAND_LINES = [line for line in README.splitlines() if line.startswith("storedesk ")]


def test_readme_opens_with_make_demo_and_make_test() -> None:
    head = "\n".join(README.splitlines()[:40])
    assert "make demo" in head and "make test" in head


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_every_documented_command_and_flag_exists(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    words = line.split("#")[0].split()
    path = list(itertools.takewhile(lambda w: re.fullmatch(r"[a-z][a-z-]+", w) is not None, words[1:4]))
    if path and path[0] == "demo":
        path = ["demo"]
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*path, "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    for flag in re.findall(r"--[a-z][a-z-]*", line):
        assert flag in help_text, f"{flag} documented in README but not in `storedesk {' '.join(path)} --help`"


def test_readme_documents_every_subcommand() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, child in sub.choices.items():  # type: ignore[union-attr]
        assert f"storedesk {name}" in README
        grand = [a for a in child._actions if a.dest == "action" or getattr(a, "choices", None)]
        for action in grand:
            for sub_name in action.choices or ():
                assert f"storedesk {name} {sub_name}" in README, f"storedesk {name} {sub_name} is undocumented"
