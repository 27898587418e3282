"""Messages of the libraries we use that people read in our admin and pages,
but that the libraries do not translate into Korean (or not at all). Listing
them here puts them into our catalogs (locale/), which take precedence over
the libraries' own. Nothing imports this module: makemessages reads it."""

from django.utils.translation import gettext_noop, pgettext_lazy

LIBRARY_MESSAGES = [
    # django-tasks-db: the task results in the admin.
    gettext_noop("Task Result"),
    gettext_noop("Task Results"),
    gettext_noop("status"),
    gettext_noop("enqueued at"),
    gettext_noop("started at"),
    gettext_noop("finished at"),
    gettext_noop("args kwargs"),
    gettext_noop("priority"),
    gettext_noop("task path"),
    gettext_noop("worker id"),
    gettext_noop("queue name"),
    gettext_noop("backend name"),
    gettext_noop("run after"),
    gettext_noop("return value"),
    gettext_noop("exception class path"),
    gettext_noop("traceback"),
    # django-tasks: task statuses.
    pgettext_lazy("Task", "Ready"),
    pgettext_lazy("Task", "Running"),
    pgettext_lazy("Task", "Failed"),
    pgettext_lazy("Task", "Successful"),
    # djangorestframework-api-key: the key's fields and their help.
    gettext_noop("Expires"),
    gettext_noop("Once API key expires, clients cannot use it anymore."),
    gettext_noop("A free-form name for the API key. Need not be unique. 50 characters max."),
    gettext_noop("If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)"),
    gettext_noop("The API key has been revoked, which cannot be undone."),
    # Django's admin, where its Korean catalog reads wrongly
    # ("보기위한 1%s 를(을) 선택", "독자는 뷰 및 수정 권한이 없습니다.").
    gettext_noop("Select %s to view"),
    gettext_noop("You don’t have permission to view or edit anything."),  # noqa: RUF001 - Django's msgid, as written
    # Django 5.2's user form, newer than its Korean catalog.
    gettext_noop(
        "Whether the user will be able to authenticate using a password or not. If disabled, they may still be "
        "able to authenticate using other backends, such as Single Sign-On or LDAP."
    ),
]
