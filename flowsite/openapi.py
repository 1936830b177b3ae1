"""The OpenAPI document's shared parts: each API's error shapes, which statuses an operation answers, and
the three ways to send a token.

An operation declares its own bodies (`extend_schema(request=..., responses=...)` over the view's nested
`InputSerializer` / `OutputSerializer`); the errors are the same for every operation of an API, so they
are added here from the view's `error_shapes` instead of being repeated on each operation.
"""

import inspect
import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.serializers import PolymorphicProxySerializerExtension
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class ConstField(serializers.CharField):
    """A key whose value is always `value` (a discriminator, a fixed status): documented inline as a
    one-value enum rather than as a named enum component per value."""

    def __init__(self, value: str, **kwargs):
        self.value = value
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if data != self.value:
            raise serializers.ValidationError(f'Must be "{self.value}".')
        return data


class ConstFieldSchema(OpenApiSerializerFieldExtension):
    target_class = ConstField

    def map_serializer_field(self, auto_schema, direction):
        # The enum's identity is the key and the value, so a value used under two keys (a step type's
        # "type" and a workflow action's "actionType") is two enums, each named after its component.
        identity = f"{self.target.field_name}={self.target.value}"
        return {"type": "string", "enum": [self.target.value], "x-spec-enum-id": identity}


class ErrorMapField(serializers.DictField):
    """{"field": ["reason", ...]}: the field (dotted for nested keys, or "body") to its reasons."""

    child = serializers.ListField(child=serializers.CharField())


class MessageError(serializers.Serializer):
    """Flowdock's error without fields: 401, 403, 404."""

    message = serializers.CharField()


class ValidationErrorShape(serializers.Serializer):
    """Flowdock's validation error: 400 (and 413) {"message": "Validation error", "errors": {...}}."""

    message = serializers.CharField()
    errors = ErrorMapField()


class ConfirmationErrorShape(ValidationErrorShape):
    """409: the change would clear `lost` tasks' values; repeat it with `confirm`."""

    lost = serializers.IntegerField()


class TaskErrorShape(serializers.Serializer):
    """Flowdash's task error: 422 (and 413) {"errors": {...}}."""

    errors = ErrorMapField()


class FailShape(serializers.Serializer):
    """The execution API's error: {"status": "Fail", "errors": ["reason", ...]}."""

    status = ConstField("Fail")
    errors = serializers.ListField(child=serializers.CharField())


FLOWDOCK_ERRORS = {400: ValidationErrorShape, 401: MessageError, 403: MessageError, 404: MessageError}
FLOWDOCK_ERRORS[413] = ValidationErrorShape


ERROR_DESCRIPTIONS = {
    400: "The input was refused, or the body is not JSON the server reads.",
    401: "No token, or an invalid one.",
    403: "The caller may not do this.",
    404: "No such object, or the caller may not see it.",
    409: "The change needs confirming.",
    413: "The body is larger than the server accepts.",
    422: "The input was refused.",
}


class ApiAutoSchema(AutoSchema):
    """Adds the errors an operation answers, in its API's shape (`view.error_shapes`):

    - 401 on every operation (no token, or a bad one);
    - 404 when the path names something (it may not exist, or the caller may not see it);
    - writes: 403 (not allowed), 413 (body too large), and the API's status for a body it cannot parse;
    - the API's status for refused input (`view.input_status`) when the operation takes a body or query.

    Statuses an operation declares itself (`extend_schema(responses=...)`) win.
    """

    def get_serializer_name(self, serializer, direction):
        # A view's nested InputSerializer / OutputSerializer is named after its view: FlowCreateInput.
        cls = type(serializer)
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer:
            return outer.removesuffix("Api") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)

    def get_description(self):
        # The view's own docstring (or the method's), never one inherited from a base class.
        method = getattr(self.view, self.method.lower(), None)
        return inspect.getdoc(method) if method and method.__doc__ else (type(self.view).__dict__.get("__doc__") or "")

    def get_operation_id(self):
        # One view per resource, one operation per method: FlowListApi.get is "flow_list_get".
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self.view).__name__.removesuffix("Api")).lower()
        return f"{name}_{self.method.lower()}"

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        shapes = getattr(self.view, "error_shapes", None)
        if direction != "response" or not shapes:
            return responses
        statuses = {401}
        parameters = self._get_parameters()
        if any(p.get("in") == "path" for p in parameters):
            statuses.add(404)
        if self.method in WRITE_METHODS:
            statuses |= {403, 413, self.view.parse_status}
        has_query = any(p.get("in") == "query" for p in parameters)
        has_body = self.method in WRITE_METHODS and self.get_request_serializer() is not None
        if has_body or has_query:
            statuses.add(self.view.input_status)
        for code in sorted(statuses):
            if str(code) not in responses:
                response = OpenApiResponse(shapes[code], description=ERROR_DESCRIPTIONS[code])
                responses[str(code)] = self._get_response_for_code(response, str(code), direction=direction)
        return responses


class TokenSchemes(OpenApiAuthenticationExtension):
    """`Authorization: Bearer <token>` and `Authorization: Token <token>`."""

    target_class = "flowsite.authentication.TokenAuthentication"
    name = ["bearerAuth", "tokenAuth"]

    def get_security_requirement(self, auto_schema):
        # Either one, not both together.
        return [{"bearerAuth": []}, {"tokenAuth": []}]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <token>`"},
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Authorization: Token <token>` (the word Token, a space, the token)",
            },
        ]


class TokenBasicScheme(OpenApiAuthenticationExtension):
    target_class = "flowsite.authentication.TokenBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "HTTP Basic with the token as the user name and any password.",
        }


class Discriminated(serializers.Serializer):
    """An object checked by this serializer's own fields, and documented as a `oneOf` of `variants()`
    told apart by the `discriminator` key (the variants must not subclass this class)."""

    component: str
    discriminator: str

    @classmethod
    def variants(cls) -> dict[str, type[serializers.Serializer]]:
        raise NotImplementedError


class DiscriminatedSchema(PolymorphicProxySerializerExtension):
    target_class = Discriminated
    match_subclasses = True
    priority = 1

    def __init__(self, target):
        super().__init__(target)
        cls = target if isinstance(target, type) else type(target)
        self.target = PolymorphicProxySerializer(
            component_name=cls.component,
            serializers=cls.variants(),
            resource_type_field_name=cls.discriminator,
            many=False,
        )
