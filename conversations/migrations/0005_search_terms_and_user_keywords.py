"""The term table that MariaDB/MySQL search (SQLite keeps its
FTS5 table), per-user daily keywords, and covering indexes for the rankings.

Filling both tables reads every log once; at a million logs that takes
minutes (the term table gets about 27 rows per log). The InnoDB FULLTEXT
index of migration 0002 is dropped: the term table replaces it.
"""

from collections import Counter

import django.db.models.deletion
from django.db import migrations, models, transaction

BATCH = 5000
LOG = "conversations_conversationlog"


def _log_batches(apps, fields):
    log_model = apps.get_model("conversations", "ConversationLog")
    last = 0
    while True:
        rows = list(log_model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def fill(apps, schema_editor):
    term_model = apps.get_model("conversations", "ConversationLogTerm")
    user_keyword = apps.get_model("conversations", "DailyUserKeyword")
    with_terms = schema_editor.connection.vendor != "sqlite"
    counts = Counter()
    for rows in _log_batches(apps, ("search_terms", "keywords", "user_id", "day")):
        if with_terms:
            with transaction.atomic():
                term_model.objects.bulk_create(
                    (term_model(term=term, log_id=pk) for pk, terms, *_ in rows for term in set(terms.split())),
                    batch_size=BATCH,
                )
        for _pk, _terms, keywords, user_id, day in rows:
            for term in set(keywords.split()):
                counts[user_id, day, term] += 1
    user_keyword.objects.bulk_create(
        (user_keyword(user_id=u, day=d, term=t, count=c) for (u, d, t), c in counts.items()), batch_size=BATCH
    )


def drop_innodb_fulltext(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        schema_editor.execute(f"DROP INDEX convlog_fulltext ON {LOG}")
        schema_editor.execute("DROP TABLE IF EXISTS conversations_ft_stopword")


def restore_innodb_fulltext(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        from importlib import import_module

        for statement in import_module("conversations.migrations.0002_fulltext").MYSQL_FORWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    # MySQL cannot run DDL inside a transaction; the fill commits per batch.
    atomic = False
    dependencies = [
        ("conversations", "0004_monthly_rollups"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConversationLogTerm",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "term", "log", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("term", models.CharField(max_length=84)),
                (
                    "log",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="terms",
                        to="conversations.conversationlog",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="DailyUserKeyword",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("user_id", models.CharField(max_length=64)),
                ("term", models.CharField(max_length=64)),
                ("count", models.PositiveIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("user_id", "day", "term"), name="dailyuserkeyword_unique")
                ],
            },
        ),
        migrations.AddIndex(
            model_name="dailykeyword",
            index=models.Index(fields=["day", "term", "count"], name="dailykeyword_day_term_count"),
        ),
        migrations.AddIndex(
            model_name="dailyuserstat",
            index=models.Index(fields=["day", "user_id", "count"], name="dailyuserstat_day_user_count"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunPython(drop_innodb_fulltext, restore_innodb_fulltext),
    ]
