"""Full-text search over conversation logs, newest matches first.

Both the stored `search_terms` and the query are reduced to the same
morpheme tokens (aiplatform.text), so matching is exact token equality and
every query token must match.

A search lists the newest matches, and a page must cost the same whether a
term is in ten logs or in half of them. So the index drives the query in id
order and the database stops at the page:

- SQLite: the FTS5 table of migration 0002 (kept in step by triggers). FTS5
  walks a term's document list backwards when asked for `rowid DESC`.
- MariaDB/MySQL: the ConversationLogTerm table,
  one row per (term, log), written with the log. Its primary key is the
  term's list of logs in id order; further terms are probed by primary key.

The queryset gets a `match_id` annotation: the log id as read from the index.
Ordering by `-match_id` is what lets the database walk the index newest
first (ids follow `created_at` for logs written by the services).
"""

from django.db import connection
from django.db.models import BigIntegerField, Exists, F, OuterRef
from django.db.models.expressions import RawSQL

from aiplatform import text

from .models import ConversationLog, ConversationLogTerm

FTS_TABLE = "conversations_log_fts"
MATCH_ID = "match_id"


def _fts5_query(tokens: tuple[str, ...]) -> str:
    return " ".join('"' + token.replace('"', '""') + '"' for token in tokens)


def uses_term_table() -> bool:
    return connection.vendor != "sqlite"


def logs_search(queryset, query: str):
    """Logs whose question or answer contains every term of `query`,
    annotated with `match_id` (order by `-match_id` for newest first)."""
    tokens = text.query_tokens(query.strip())
    if not tokens:
        # Only particles or punctuation: nothing can be asked of the index.
        return queryset.none().annotate(**{MATCH_ID: F("pk")})
    if not uses_term_table():
        # The table name is a constant; the query is a bound parameter.
        table = queryset.model._meta.db_table
        queryset = queryset.extra(  # noqa: S610
            tables=[FTS_TABLE],
            where=[f"{FTS_TABLE}.rowid = {table}.id", f"{FTS_TABLE} MATCH %s"],
            params=[_fts5_query(tokens)],
        )
        return queryset.annotate(**{MATCH_ID: RawSQL(f"{FTS_TABLE}.rowid", [], output_field=BigIntegerField())})  # noqa: S611
    # Drive from the longest token (longer terms tend to be rarer), probe the others.
    first, *others = sorted(dict.fromkeys(tokens), key=lambda token: (-len(token), token))
    queryset = queryset.filter(terms__term=first).annotate(**{MATCH_ID: F("terms__log_id")})
    for token in others:
        queryset = queryset.filter(Exists(ConversationLogTerm.objects.filter(term=token, log_id=OuterRef("pk"))))
    return queryset


def log_terms_replace(pks: list[int]) -> None:
    """Rewrite the term-table rows of saved logs after their search_terms
    changed (where the term table is used; SQLite's FTS5 triggers follow
    the column on their own)."""
    if not uses_term_table() or not pks:
        return
    ConversationLogTerm.objects.filter(log_id__in=pks).delete()
    log_terms_write(list(ConversationLog.objects.filter(pk__in=pks).only("pk", "search_terms")))


def log_terms_write(logs: list[ConversationLog]) -> None:
    """Index saved logs in the term table (where it is used)."""
    if not uses_term_table():
        return
    rows = [(term, log.pk) for log in logs for term in set(log.search_terms.split())]
    if not rows:
        return
    # Plain executemany: bulk loads write about 27 rows per log, and the
    # drivers batch these into multi-row INSERTs without building models.
    table = connection.ops.quote_name(ConversationLogTerm._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} (term, log_id) VALUES (%s, %s)", rows)  # noqa: S608
