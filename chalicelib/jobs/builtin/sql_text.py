"""Lexical checks on a ``database_query`` statement, made at creation (pure; no driver, no server).

The server is the final judge (the statement is sent with the extended protocol, where
PostgreSQL itself refuses a second command); this check only turns the common mistake into a
400 before anything is stored.
"""

from __future__ import annotations

import re

DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def statement_count(sql: str) -> int:
    """How many non-empty statements ``sql`` holds, skipping quotes, comments and $tag$ bodies."""
    count, has_text, i, n = 0, False, 0, len(sql)
    while i < n:
        c = sql[i]
        if c == ";":
            count += has_text
            has_text = False
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if sql.startswith("/*", i):
            i = _end_of_block_comment(sql, i)
            continue
        has_text = True
        if c in "'\"":
            i = _end_of_quoted(sql, i, c, backslash_escapes=c == "'" and i > 0 and sql[i - 1] in "eE")
            continue
        if c == "$":
            tag = DOLLAR_TAG.match(sql, i)
            if tag:
                end = sql.find(tag.group(0), tag.end())
                i = n if end < 0 else end + len(tag.group(0))
                continue
        i += 1
    return count + has_text


def _end_of_quoted(sql: str, start: int, quote: str, *, backslash_escapes: bool) -> int:
    i = start + 1
    while i < len(sql):
        if backslash_escapes and sql[i] == "\\":
            i += 2
            continue
        if sql[i] == quote:
            if sql.startswith(quote * 2, i):  # '' inside '...' is a quote, not the end
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)


def _end_of_block_comment(sql: str, start: int) -> int:
    # PostgreSQL's block comments nest.
    depth, i = 0, start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(sql)
