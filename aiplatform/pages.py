"""The site's own pages: home, sign-in, and the error pages. Each app's
pages live in that app; these are the shell around them."""

from pathlib import Path

from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from aiplatform import markdown
from aiplatform.api.throttling import LoginRateThrottle
from aiplatform.site import home_sections


class HomeView(LoginRequiredMixin, TemplateView):
    """What the platform does, and the signed-in user's latest items from
    every app."""

    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sections"] = home_sections(self.request)
        return context


class LoginView(auth_views.LoginView):
    """Django's login, limited per address like the JWT endpoint."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        throttle = LoginRateThrottle()
        if not throttle.allow_request(request, self):
            wait = int(throttle.wait() or 60)
            response = render(
                request,
                "registration/login.html",
                {"form": self.get_form(), "throttled": True, "retry_after": wait, "next": self.get_redirect_url()},
                status=429,
            )
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"


def error_page(request, status: int):
    """An error in the site's style and the user's language."""
    title, message = _error_texts()[status]
    context = {"status": status, "title": title, "message": message}
    try:
        return render(request, "error.html", context, status=status)
    except Exception:
        # A failing database or template: the page without the shell's
        # navigation, which needs the user.
        return render(None, "error_plain.html", context, status=status)


def _error_texts() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood. Check the address or the form and try again.")),
        403: (_("Access denied"), _("You do not have permission to open this page.")),
        404: (_("Page not found"), _("There is no page at this address. It may have moved or never existed.")),
        500: (_("Something went wrong"), _("An unexpected error occurred on our side. It has been logged.")),
    }


GUIDES_DIR = Path(__file__).resolve().parent.parent / "docs"


def guide_names() -> list[str]:
    return sorted(path.stem for path in GUIDES_DIR.glob("*.md"))


class GuideView(LoginRequiredMixin, TemplateView):
    """The guides under docs/, so that a user of the site can read what the
    README links to."""

    template_name = "guide.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        names = guide_names()
        # Only the names found in the folder: a request cannot name a path.
        if kwargs["name"] not in names:
            raise Http404(_("There is no such guide."))
        context.update(
            guides=names,
            current=kwargs["name"],
            title=kwargs["name"],
            html=markdown.render(
                (GUIDES_DIR / f"{kwargs['name']}.md").read_text(encoding="utf-8"),
                guide_url=lambda name: reverse("guide", args=[name]) if name in names else None,
            ),
        )
        return context
