"""Reads: which requests a caller may see."""

from .models import PathologyRequest


def requests_visible_to(user):
    """Staff see every request; anyone else the requests they made."""
    queryset = PathologyRequest.objects.select_related("worker", "requested_by")
    if getattr(user, "is_staff", False):
        return queryset
    if getattr(user, "pk", None) is None:
        return queryset.none()
    return queryset.filter(requested_by=user)
