from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from aiplatform.errors import DomainError
from conversations.choices import DocumentSource
from conversations.services import documents

SUFFIXES = tuple(documents.FORMAT_BY_SUFFIX)


class Command(BaseCommand):
    help = (
        "Add .txt, .md and .jsonl files (a file or every such file under a folder) to the RAG knowledge base: "
        "chunk, embed and index them, with a progress bar."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="A file, or a folder searched recursively.")
        parser.add_argument("--no-index", action="store_true", help="Store and chunk only; index later.")

    def handle(self, *args, path, no_index, **options):
        root = Path(path)
        if not root.exists():
            raise CommandError(_("%(path)s does not exist.") % {"path": root})
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES)
        created_ids, existing, rejected = [], 0, 0
        for file in tqdm(files, desc="files", unit="file", disable=len(files) < 2):
            try:
                parsed, bad = documents.documents_parse(name=file.name, data=file.read_bytes())
            except DomainError as exc:
                self.stderr.write(f"{file}: {exc.message}")
                rejected += 1
                continue
            for record in bad:
                self.stderr.write(f"{file}:{record.line}: {record.reason}")
            rejected += len(bad)
            for item in parsed:
                document, is_new = documents.document_create(
                    title=item.title,
                    text_content=item.text,
                    doc_format=item.format,
                    source=DocumentSource.COMMAND,
                    index=False,
                )
                if is_new:
                    created_ids.append(document.pk)
                else:
                    existing += 1
        self.stdout.write(
            _("%(added)d documents added, %(existing)d already present, %(rejected)d rejected.")
            % {"added": len(created_ids), "existing": existing, "rejected": rejected}
        )
        if no_index:
            return
        from aiplatform import embeddings
        from conversations.models import DocumentChunk

        # Also picks up chunks left unindexed earlier (--no-index, a failed run).
        total = DocumentChunk.objects.exclude(embedding_model=embeddings.model_name()).count()
        with tqdm(total=total, desc="embedding", unit="chunk") as bar:
            indexed = documents.documents_index(progress=bar.update)
        self.stdout.write(self.style.SUCCESS(_("%(n)d chunks embedded and indexed.") % {"n": indexed}))
