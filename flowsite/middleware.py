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
