from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the demo superuser on a fresh install (DEBUG only) and print its credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if User.objects.exists():
            if User.objects.filter(username=settings.DEMO_USERNAME).exists():
                self.stdout.write(f"Demo login (unless changed): {settings.DEMO_USERNAME} / {settings.DEMO_PASSWORD}")
            return
        if not settings.DEBUG:
            raise CommandError("Refusing to create a demo account with a known password while DEBUG is off.")
        User.objects.create_superuser(settings.DEMO_USERNAME, email="", password=settings.DEMO_PASSWORD)
        self.stdout.write(
            self.style.SUCCESS(f"Created demo superuser. Log in as {settings.DEMO_USERNAME} / {settings.DEMO_PASSWORD}")
        )
