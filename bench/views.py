"""The bare references every scenario of the harness is compared with: the
least a Django view can do for a read and for a write, through the same
middleware, gunicorn and database as the real pages."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bench.models import BenchRow


@require_GET
def bare_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True, "service": "changeday", "numbers": [1, 2, 3]})


# No CSRF token: the load generator posts without a form, and the check costs
# microseconds next to the insert.
@csrf_exempt
@require_POST
def bare_insert(request: HttpRequest) -> JsonResponse:
    row = BenchRow.objects.create(note=request.POST.get("note", "")[:100])
    return JsonResponse({"id": row.pk}, status=201)
