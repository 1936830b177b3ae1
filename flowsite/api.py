"""Cross-app API plumbing: the error shape, the base view and shared helpers."""

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, negotiation, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from flowsite.openapi import FLOWDOCK_ERRORS


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


def flatten_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
                # A ListField's errors are keyed by the item's index: "actions[0].actionType".
                for index, item in value.items():
                    if isinstance(item, dict):
                        for sub_key, sub_value in flatten_errors(item).items():
                            out[f"{key}[{index}].{sub_key}"] = sub_value
                    else:
                        out[f"{key}[{index}]"] = [str(v) for v in item] if isinstance(item, list) else [str(item)]
            elif isinstance(value, dict):
                for sub_key, sub_value in flatten_errors(value).items():
                    out[f"{key}.{sub_key}"] = sub_value
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub_key, sub_value in flatten_errors(item).items():
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
        return validation_error_response(flatten_errors(exc.detail))
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


class ContentNegotiation(negotiation.DefaultContentNegotiation):
    """DRF's negotiation, with its commonest case answered without parsing the Accept header: no
    format asked for (no query string, no suffix) and anything accepted (no Accept header, or */*)
    gets the first renderer and its media type, exactly as DRF answers it. Any other request is
    DRF's to negotiate (a 406 for a type no renderer makes, ?format=)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        meta = request.META
        if not format_suffix and meta.get("HTTP_ACCEPT", "*/*") == "*/*" and not meta.get("QUERY_STRING"):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


class ApiView(APIView):
    """Base for every API view: adds Flowdock's `Flowdock-User` header, and reads every write's body.

    DRF parses a body only when a view asks for it, so a view that ignores its body would act on a
    request whose body is hostile (too deep, lone surrogates, too large). Parsing every write's body
    at the door refuses those the same way on every endpoint, before anything is done.

    `error_shapes` (status to serializer), `input_status` (refused input) and `parse_status` (a body
    that cannot be read) tell the OpenAPI document which errors the API answers, in which shape.
    """

    error_shapes: dict[int, Any] = FLOWDOCK_ERRORS
    content_negotiation_class = ContentNegotiation
    input_status = status.HTTP_400_BAD_REQUEST
    parse_status = status.HTTP_400_BAD_REQUEST

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


class InputSerializer(serializers.Serializer):
    """A body's declared shape: a JSON object whose keys are the declared fields.

    DRF drops keys it does not know; an API that refuses them says so with `unknown_message`, so a typo
    is an error instead of a silent no-op. `validated_data` holds only the keys the client sent (no field
    here has a default), which is what the services' partial updates need.
    """

    unknown_message: str | None = "Unknown field."
    body_message = "Expected a JSON object."

    def run_validation(self, data=serializers.empty):
        # Before DRF's own checks, which would call a JSON null "This field may not be null."
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"body": [self.body_message]})
        return super().run_validation(data)

    def to_internal_value(self, data):
        if self.unknown_message:
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise exceptions.ValidationError({key: [self.unknown_message] for key in unknown})
        return super().to_internal_value(data)


def validated(serializer_class: type[serializers.Serializer], data: Any, **context: Any) -> dict:
    """The input, checked against its serializer (a ValidationError is the API's own error shape)."""
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def output(serializer_class: type[serializers.Serializer], data: Any, *, many: bool = False) -> Any:
    """The answer, through its serializer, so what is sent is what the document declares."""
    return serializer_class(data, many=many).data


class StrictCharField(serializers.CharField):
    """A JSON string, nothing else: DRF's CharField would turn 12 into "12"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false: DRF's BooleanField would also take "yes", "1" and 1."""

    default_error_messages = {"invalid": "Must be a boolean."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


def choice_field(choices, **kwargs) -> serializers.ChoiceField:
    """A choice, refused in the API's words: "Must be one of: a, b, c." """
    values = [c[0] if isinstance(c, tuple | list) else c for c in choices]
    message = f"Must be one of: {', '.join(str(v) for v in values if v not in ('', None))}."
    return serializers.ChoiceField(choices=choices, error_messages={"invalid_choice": message}, **kwargs)


def name_field(**kwargs) -> StrictCharField:
    """A name: a non-empty string; anything else is "This field is required." as the services say."""
    kwargs.setdefault("max_length", 100)
    return StrictCharField(error_messages=dict.fromkeys(("invalid", "blank", "null", "required"), REQUIRED), **kwargs)


REQUIRED = "This field is required."


# --- paged lists ----------------------------------------------------------------------------------

# The headers of a paged list answer, as the OpenAPI document declares them.
PAGE_HEADERS = [
    OpenApiParameter("X-Total-Count", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200]),
    OpenApiParameter(
        "Link", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200], description='rel="next" and rel="prev"'
    ),
]


def _page_link(request, page: int, rel: str) -> str:
    query = request.query_params.copy()
    query["page"] = str(page)
    # urlencode percent-encodes every value, so nothing a client sent can break the header.
    return f'<{request.build_absolute_uri(request.path)}?{query.urlencode()}>; rel="{rel}"'


def paged(response: Response, request, *, page: int, limit: int, total: int) -> Response:
    """A page of a list answer with its X-Total-Count and Link (next, prev) headers."""
    response["X-Total-Count"] = str(total)
    links = []
    if page * limit < total:
        links.append(_page_link(request, page + 1, "next"))
    if page > 1:
        links.append(_page_link(request, page - 1, "prev"))
    if links:
        response["Link"] = ", ".join(links)
    return response
