"""``Idempotency-Key`` on writes (docs/api.md): a write sent again with the
same key by the same user within KEEP gets the first answer again, and
nothing is sent twice. The key is claimed in the database before the
command is sent (a unique row), so two workers never both send it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from api.errors import ApiError
from api.models import IdempotentRequest

HEADER = "Idempotency-Key"
KEEP = timedelta(hours=24)
MAX_KEY = 200


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def once(request: HttpRequest, write: Callable[[], HttpResponse]) -> HttpResponse:
    """``write()``, or the answer it gave to the same key before."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return write()
    if len(key) > MAX_KEY:
        raise ApiError(400, f"{HEADER} is longer than {MAX_KEY} characters")
    user, fingerprint = request.user, _fingerprint(request)
    IdempotentRequest.objects.filter(user=user, created_at__lt=timezone.now() - KEEP).delete()
    try:
        with transaction.atomic():
            claim = IdempotentRequest.objects.create(user=user, key=key, fingerprint=fingerprint)
    except IntegrityError:
        earlier = IdempotentRequest.objects.filter(user=user, key=key).first()
        if earlier is None:  # gone since (expired): this is a new request
            return once(request, write)
        if earlier.fingerprint != fingerprint:
            raise ApiError(400, f"this {HEADER} was used for another request",
                           "idempotency_key_reused") from None
        if earlier.status is None:
            raise ApiError(409, f"the request with this {HEADER} is still being answered",
                           "in_progress") from None
        response = JsonResponse(earlier.body, status=earlier.status)
        response["Idempotent-Replayed"] = "true"
        return response
    try:
        response = write()
    except ApiError as exc:
        response = exc.response()
    except BaseException:
        claim.delete()  # nothing answered: the key may be used again
        raise
    if isinstance(response, JsonResponse):
        IdempotentRequest.objects.filter(pk=claim.pk).update(
            status=response.status_code, body=json.loads(response.content))
    return response
