"""Taskra's errors as HTTP responses: the one place the error tree meets status codes.

The core raises from ``taskra_core.errors`` and never knows about HTTP; the shell maps each
class here, and every JSON error has the same shape: ``{"error": {"type", "message"}}``.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from taskra_core import errors

# Most specific first: the first class an error is an instance of decides.
STATUS: tuple[tuple[type[errors.TaskraError], int], ...] = (
    (errors.InvalidSessionToken, 401),
    (errors.WebhookSignatureInvalid, 401),
    (errors.WebhookTooLarge, 413),
    (errors.EmailTooLarge, 413),
    (errors.ChatRequestTooLarge, 413),
    (errors.ProxySignatureInvalid, 401),
    (errors.ChatRateLimited, 429),
    (errors.WebhookMalformed, 400),
    (errors.StripeSignatureInvalid, 400),
    (errors.LoginRateLimited, 429),
    (errors.CsrfRejected, 403),
    (errors.PermissionDenied, 403),
    (errors.AccessError, 401),
    (errors.PasswordTooLong, 422),
    (errors.NotFound, 404),
    (errors.InvalidInput, 422),
    (errors.ModelRejected, 502),
    (errors.ModelUnavailable, 503),
    (errors.ShopifyError, 502),
    (errors.OrdersUnavailable, 503),
    (errors.BillingUnavailable, 503),
    (errors.BillingError, 502),
    (errors.MailUnavailable, 503),
    (errors.DeliveryError, 502),
    (errors.ConfigurationError, 503),
    (errors.DatabaseError, 503),
)


def status_for(error: errors.TaskraError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 500


def error_response(error: errors.TaskraError) -> JSONResponse:
    status = status_for(error)
    # Server-side failures say what kind of failure it was, never internal details.
    message = str(error) if status < 500 or status in (502, 503) else "Internal error."
    response = json_error(status, type(error).__name__, message)
    retry_after = getattr(error, "retry_after", None)
    if isinstance(error, errors.LoginRateLimited | errors.ChatRateLimited) and retry_after:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response


def json_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)
