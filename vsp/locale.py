"""Which language a request is answered in: the staff's choice for the console, English for machines.

The console (admin, ``/live/``) is Chinese (``LANGUAGE_CODE``) until a user picks English in the
header's picker (Django's ``set_language`` view, which sets the language cookie). The browser's
``Accept-Language`` is not asked: Chinese first, whatever language the browser was installed in.
Everything a client parses stays English whatever it asks for: the edge contract's answers, the
native API, the Yudao-compatible API (whose Chinese ``msg`` texts are literal, not translations), the
schema, health. DRF's and Django's own messages in those answers would otherwise be translated.

Also here: ``label_fields``, the translatable labels of fields Django names after the attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.deprecation import MiddlewareMixin

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# Path prefixes answered in English: edge ingest and both APIs live under these, and /health for probes.
MACHINE_PATH_PREFIXES = ("/api/", "/admin-api/", "/health")
MACHINE_LANGUAGE = "en"


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PATH_PREFIXES)


def console_language(request: HttpRequest) -> str:
    """The language the user picked (the language cookie), if it is one of LANGUAGES; else LANGUAGE_CODE."""
    picked = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if picked:
        try:
            return translation.get_supported_language_variant(picked)
        except LookupError:
            pass  # a stale or forged cookie: the default
    return settings.LANGUAGE_CODE


class ConsoleLocaleMiddleware(MiddlewareMixin):
    """Activates the request's language (see the module's docstring), in place of Django's LocaleMiddleware.

    It runs before the edge shortcut, which bypasses the rest of the chain, so that an edge answer on a
    thread that last served a Chinese admin page is still English: an activated language outlives the
    request on its thread.
    """

    def process_request(self, request: HttpRequest) -> None:
        language = MACHINE_LANGUAGE if is_machine_path(request.path_info) else console_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        # Machine answers stay as they were; a console page says its language (the cookie chose it, and
        # the session already makes those pages Vary: Cookie).
        if not is_machine_path(request.path_info):
            response.headers.setdefault("Content-Language", getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE))
        return response


def label_fields(
    model: type[Model],
    labels: Mapping[str, StrOrPromise],
    *,
    verbose_name: StrOrPromise | None = None,
    verbose_name_plural: StrOrPromise | None = None,
) -> None:
    """Translatable labels for a model and for those of its fields that Django names after the attribute.

    Django's own way, ``verbose_name=_("event time")`` in each field, puts the label into the migration
    state, so that labelling a model is a migration of an ``AlterField`` per field, and every later
    wording change another. Set here on the live objects only, the labels stay out of the state (a
    field's ``deconstruct`` reports the arguments it was made with; a model's, its ``Meta``). Each
    label's English text is the name Django derives, so English pages read as before
    (alarms/tests/test_i18n.py checks both).
    """
    opts = model._meta
    for name, label in labels.items():
        field = opts.get_field(name)
        if getattr(field, "_verbose_name", None) is not None:
            raise ImproperlyConfigured(f"{opts.label}.{name} names itself (verbose_name=); label it there")
        field.verbose_name = label  # type: ignore[union-attr]
    if verbose_name is not None:
        opts.verbose_name = verbose_name
    if verbose_name_plural is not None:
        opts.verbose_name_plural = verbose_name_plural
