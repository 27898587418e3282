"""Search terms derived again: aiplatform.text now splits compounds that
Kiwi misread (대화로그 as 대화 + particle + determiner) or did not know
(임베딩모델), and reduces English words to their stem (exported -> export).
Queries are analysed the new way, so logs stored the old way must be too.

This runs the current service (conversations.services.logs), not a frozen
copy: the point is to store what today's analysis derives. It reads every
log once (at a million logs, minutes) and commits per batch; the same is
`manage.py rebuild_conversation_search`. Going back does nothing: after
returning to older code, run that command with the older code.
"""

from django.db import migrations


def rebuild(apps, schema_editor):
    from conversations.services.logs import logs_search_terms_rebuild

    logs_search_terms_rebuild()


class Migration(migrations.Migration):
    # Commits per batch (MySQL cannot run DDL in a transaction anyway).
    atomic = False
    dependencies = [("conversations", "0005_search_terms_and_user_keywords")]

    operations = [migrations.RunPython(rebuild, migrations.RunPython.noop)]
