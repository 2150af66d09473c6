"""Counting the statements of a database_query job's SQL, outside quotes, comments and dollar bodies."""

from __future__ import annotations

import pytest

from chalicelib.jobs.builtin.sql_text import statement_count
from tests.kit import GUIDE_QUERY


@pytest.mark.parametrize(
    ("sql", "count"),
    [
        (GUIDE_QUERY, 1),
        ("SELECT 'a;b', \"x;y\" FROM t;", 1),
        ("SELECT $$;$$, $tag$ ; $tag$ -- ; \n", 1),
        ("SELECT 1 /* ; /* nested ; */ ; */", 1),
        ("SELECT E'\\';' ; SELECT 2", 2),
        ("SELECT 'it''s;'; SELECT 2;", 2),
        ("-- only a comment", 0),
    ],
)
def test_statements_are_counted_outside_quotes_comments_and_dollar_bodies(sql: str, count: int) -> None:
    assert statement_count(sql) == count
