"""Cross-app API plumbing: the error shape, the base view and shared helpers."""

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler


class ServiceError(Exception):
    """A business rule refused the request; `errors` maps a field to reasons."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, errors: dict[str, list[str]] | str, status_code: int | None = None):
        if isinstance(errors, str):
            errors = {"non_field_errors": [errors]}
        self.errors = errors
        if status_code is not None:
            self.status_code = status_code
        super().__init__(str(errors))


class Forbidden(Exception):
    """The caller may see the resource but not do this (403)."""

    def __init__(self, message: str = "You do not have permission to perform this action."):
        self.message = message
        super().__init__(message)


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub_key, sub_value in _flatten(value).items():
                    out[f"{key}.{sub_key}"] = sub_value
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub_key, sub_value in _flatten(item).items():
                        out[f"{key}[{index}].{sub_key}"] = sub_value
            elif isinstance(value, list):
                out[key] = [str(v) for v in value]
            else:
                out[key] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def validation_error_response(errors: dict[str, list[str]], status_code: int = 400) -> Response:
    return Response({"message": "Validation error", "errors": errors}, status=status_code)


TOO_LARGE = "The body is larger than the server accepts."


def exception_handler(exc, context):
    """Flowdock's error shape: 400 {"message": "Validation error", "errors": {...}}."""
    if isinstance(exc, RequestDataTooBig):
        # Django's own answer would be an HTML "Bad Request (400)" page.
        return validation_error_response({"body": [TOO_LARGE]}, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, ServiceError):
        return validation_error_response(exc.errors, exc.status_code)
    if isinstance(exc, Forbidden):
        return Response({"message": exc.message}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, exceptions.ValidationError):
        return validation_error_response(_flatten(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        return validation_error_response({"body": [str(exc.detail)]})
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response({"message": "Not found"}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"message": str(response.data["detail"])}
    return response


class ApiView(APIView):
    """Base for every API view: adds Flowdock's `Flowdock-User` header, and reads every write's body.

    DRF parses a body only when a view asks for it, so a view that ignores its body would act on a
    request whose body is hostile (too deep, lone surrogates, too large). Parsing every write's body
    at the door refuses those the same way on every endpoint, before anything is done.
    """

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in permissions.SAFE_METHODS:
            request.data  # noqa: B018  (parses, or raises ParseError / RequestDataTooBig)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response["Flowdock-User"] = str(user.pk)
        return response


def require_object(data: Any) -> dict:
    """Every write takes a JSON object; a list, string or number is a 400, never a 500."""
    if not isinstance(data, dict):
        raise ServiceError({"body": ["Expected a JSON object."]})
    return data
