from django.apps import apps
from django.core.management.base import BaseCommand
from django.utils.module_loading import module_has_submodule
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = (
        "Load demo data. Every app that has a `demo` module with "
        "`load_demo_data(stdout)` contributes; each loader is idempotent."
    )

    def handle(self, *args, **options):
        from importlib import import_module

        for config in apps.get_app_configs():
            if not module_has_submodule(config.module, "demo"):
                continue
            module = import_module(f"{config.name}.demo")
            self.stdout.write(_("[%(app)s] demo data") % {"app": config.label})
            module.load_demo_data(self.stdout)
