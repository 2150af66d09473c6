"""The README and docs/ say only true things about the repository: links, paths, commands.

Pure: reads files and builds the CLI's argument parser; no AWS, no moto.
"""

from __future__ import annotations

import argparse
import ast
import re
import unicodedata
from dataclasses import fields
from functools import cache
from pathlib import Path
from unittest import mock

import pytest

from chalicelib.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
MAKE = re.compile(r"(?:^|[\s;&|(])make\s+([a-z][\w-]*)", re.M)
CLI = re.compile(r"devstack\.cli\s+([a-z][\w-]*)(?:\s+([a-z][\w-]*))?")
PATH_SUFFIXES = (".py", ".md", ".json", ".toml")
# Files outside the repository, which a reader of it does not have.
FORBIDDEN = re.compile(r"\.\./shared|\b(DESIGN|PITFALLS)\.md")


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def prose(text: str) -> str:
    """The text without fenced code blocks (links and headings live outside them)."""
    return FENCE.sub("", text)


def code(text: str) -> list[str]:
    """Every piece of code the text shows: fenced blocks and inline spans."""
    blocks = [m.group(0) for m in FENCE.finditer(text)]
    return blocks + INLINE_CODE.findall(prose(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation gone, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its words
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    kept = []
    for char in text:
        if char in " -_" or unicodedata.category(char)[0] in "LN":
            kept.append("-" if char == " " else char)
    return "".join(kept)


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(prose(text_of(path))):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


@cache
def ignored_prefixes() -> tuple[str, ...]:
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return tuple(line.strip().lstrip("/") for line in lines if line.strip().endswith("/"))


@cache
def basenames() -> frozenset[str]:
    skip = {".git", *(p.rstrip("/") for p in ignored_prefixes())}
    names = set()
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if not any("/".join(parts[: i + 1]) in skip for i in range(len(parts))):
            names.add(path.name)
    return frozenset(names)


def repository_path(span: str) -> str | None:
    """The repository path an inline code span names, or None when it is not one.

    A path has no spaces, placeholders or URL parts, and either starts with an entry at the
    top of the repository (`chalicelib/...`, `app.py`) or is a bare file name (`conftest.py`).
    Git-ignored outputs (`bench/results/...`, `.tickwork/`) are not checked.
    """
    span = span.strip().split("::")[0]  # a test's node id names its file
    if not span or any(c in span for c in " <>*{}$:=,'\"|") or span.startswith(("/", "-", ".venv")):
        return None
    if "..." in span or span.startswith(ignored_prefixes()):
        return None
    if "/" in span:
        return span if (ROOT / span.split("/")[0]).exists() else None
    return span if span.endswith(PATH_SUFFIXES) else None


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@cache
def cli_commands() -> dict[str, frozenset[str]]:
    """devstack.cli's subcommands, each with its own subcommands, read from its argparse parser."""

    class ParserCapturedError(Exception):
        """Raised instead of parsing: the parser is all this needs."""

    parsers: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        parsers.append(self)
        raise ParserCapturedError

    from devstack import cli

    with mock.patch.object(argparse.ArgumentParser, "parse_args", capture), pytest.raises(ParserCapturedError):
        cli.main([])

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    return {name: frozenset(choices(sub)) for name, sub in choices(parsers[0]).items()}


@cache
def make_targets() -> frozenset[str]:
    makefile = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, re.M))


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(text_of(path))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_every_relative_link_reaches_a_file_and_heading(path: Path) -> None:
    assert broken_links(path) == []


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_every_path_in_backticks_exists(path: Path) -> None:
    missing = []
    for span in INLINE_CODE.findall(prose(text_of(path))):
        name = repository_path(span)
        if name is None:
            continue
        exists = (ROOT / name).exists() if "/" in name else name in basenames()
        if not exists:
            missing.append(name)
    assert missing == []


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_every_test_named_by_node_id_exists(path: Path) -> None:
    missing = []
    for span in INLINE_CODE.findall(prose(text_of(path))):
        file, _, names = span.strip().partition("::")
        if not names or not (ROOT / file).is_file():
            continue
        scope: list[ast.stmt] = ast.parse((ROOT / file).read_text()).body
        for name in names.split("::"):
            name = name.split("[")[0]  # a parametrized case names its function
            found = [node for node in scope if isinstance(node, DEFINITIONS) and node.name == name]
            if not found:
                missing.append(span)
                break
            scope = found[0].body if isinstance(found[0], ast.ClassDef) else []
    assert missing == []


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_every_make_command_is_a_makefile_target(path: Path) -> None:
    shown = {target for snippet in code(text_of(path)) for target in MAKE.findall(snippet)}
    assert shown - make_targets() == set()


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_every_cli_command_shown_is_a_real_subcommand(path: Path) -> None:
    commands = cli_commands()
    unknown = []
    for snippet in code(text_of(path)):
        for command, action in CLI.findall(snippet):
            if command not in commands:
                unknown.append(command)
            elif commands[command] and action and action not in commands[command]:
                unknown.append(f"{command} {action}")
    assert unknown == []


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_no_doc_points_outside_the_repository(path: Path) -> None:
    assert [m.group(0) for m in FORBIDDEN.finditer(text_of(path))] == []


def test_the_checks_see_what_they_check() -> None:
    """Guards the guards: the parsers find the things the tests above rely on finding."""
    assert {"token", "provision", "rotate-signing-key", "jobs", "cron"} <= set(cli_commands())
    assert "follow" in cli_commands()["jobs"] and "preview" in cli_commands()["cron"]
    assert {"run", "test", "bench", "package"} <= make_targets()
    assert slug("Checkpoints and long jobs") == "checkpoints-and-long-jobs"
    assert slug("`webhook`") == "webhook"
    assert slug("`database_query` (admin only)") == "database_query-admin-only"
    assert repository_path("chalicelib/jobs/base.py") == "chalicelib/jobs/base.py"
    assert repository_path("tickwork/prod/") is None
    assert repository_path("bench/results/latest.json") is None
    assert repository_path("tests/faults/kit.py::helper") == "tests/faults/kit.py"
    readme_links = LINK.findall(prose(text_of(ROOT / "README.md")))
    assert "docs/plugin-guide.md" in readme_links


def test_every_setting_is_documented_with_its_variable() -> None:
    documented = text_of(ROOT / "docs" / "operations.md")
    variables = {name for spec in fields(Settings) for name in spec.metadata.get("env", ())}
    assert variables and {name for name in variables if f"`{name}`" not in documented} == set()
