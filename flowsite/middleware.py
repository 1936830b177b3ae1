import secrets

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse


class DatabaseUnavailableMiddleware:
    """Answer 503 when the database is down, instead of a 500 page with a traceback."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        if isinstance(exception, DatabaseError) and "locked" in str(exception).lower():
            return None
        if request.path.startswith("/api/"):
            response = JsonResponse({"message": "Service temporarily unavailable, try again shortly."}, status=503)
        else:
            response = HttpResponse(
                "<h1>Flowsite is temporarily unavailable</h1><p>Please try again in a moment.</p>", status=503
            )
        response["Retry-After"] = "5"
        return response


# Scripts and stylesheets come from Flowsite itself (htmx from django-htmx, the builder's JavaScript,
# the Swagger UI from drf-spectacular-sidecar), so nothing else may run or load. An inline <script>
# or <style> runs only with this request's nonce; htmx evaluates no attribute code (allowEval is off
# in base.html) and no page uses inline event handlers. Style *attributes* stay allowed: pages
# position the builder's canvas and colour stages with them, the values are escaped, and CSS in an
# attribute can neither run script nor, without a <style> element, select on other elements.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'nonce-{nonce}'",
        "style-src-elem 'self' 'nonce-{nonce}'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy on every response, with a fresh nonce per request.

    Django 5.2 has none built in (6.0 adds one with the same `csp_nonce` name django-htmx reads).
    A view that sets its own policy keeps it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(18)
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(nonce=request.csp_nonce)
        return response


def csp_nonce(request) -> dict[str, str]:
    """Template context: `{{ csp_nonce }}` for an inline <script>/<style> (and django-htmx's tags)."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
