"""The home page's section: the user's latest chats."""

from django.utils.text import Truncator
from django.utils.translation import gettext as _

from aiplatform.site import HomeItem, HomeSection

from .models import ConversationLog

RECENT = 5


def home_section(request) -> HomeSection:
    logs = ConversationLog.objects.filter(account=request.user).only("question", "status", "created_at")[:RECENT]
    return HomeSection(
        key="conversations",
        title=_("Your latest chats"),
        url="/conversations/",
        order=10,
        empty=_("No chats yet. Ask a question through the chat API or a client of it."),
        items=[
            HomeItem(
                label=Truncator(log.question).chars(80),
                url="/conversations/",
                time=log.created_at,
                status=log.status,
                status_label=log.get_status_display(),
            )
            for log in logs
        ],
    )
