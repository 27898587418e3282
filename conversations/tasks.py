"""Background work of the knowledge base. Thin: take ids, call a service."""

from django_tasks import task

from .services import documents


@task()
def index_documents(document_ids: list[int]) -> int:
    """Embed and index the chunks of these documents; returns how many."""
    return documents.documents_index(document_ids=document_ids)


@task()
def rebuild_vector_index() -> int:
    """Rebuild the knowledge-base vector index from the stored chunks."""
    return documents.vector_index_rebuild()
