"""``/files/<key>``: local snapshot files, for a signed link or a logged-in staff member, nothing else."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.views.decorators.http import require_GET

from alarms.snapshots import link, link_is_valid, snapshot_storage


@login_not_required
@require_GET
def snapshot_file(request: HttpRequest, key: str) -> HttpResponseBase:
    signed = link_is_valid(key, request.GET.get("exp", ""), request.GET.get("sig", ""))
    staff = request.user.is_authenticated and request.user.is_staff and request.user.has_perm("alarms.view_alarmevent")
    if not (signed or staff):
        raise Http404("no such snapshot")
    storage = snapshot_storage()
    if not signed:
        # Staff following a plain link: hand them a fresh signed (or presigned) one.
        return HttpResponseRedirect(link(key))
    try:
        handle = storage.open(key, "rb")
    except (OSError, ValueError, SuspiciousFileOperation):  # missing, a folder, a path through a file
        raise Http404("no such snapshot") from None
    response = FileResponse(handle)
    response["Cache-Control"] = "private, max-age=300"
    return response
