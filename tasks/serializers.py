"""The flow's schema and the Task API, declared for DRF and the OpenAPI document.

The task object's keys are the flow's field names, so its shape is declared as what it always is (the
built-ins, and values that are strings, booleans, arrays or null); its values are checked against the
flow's own schema by the services (tasks.values), as for every other door.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import build_array_type, build_basic_type, build_object_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers

from flows.models import Field, Stage
from flowsite.api import InputSerializer, StrictBooleanField, StrictCharField, choice_field, name_field
from flowsite.bounds import INT32_MAX
from tasks.services import COMMENT_MAX

POSITION_MESSAGE = "Must be a whole number of 0 or more."
POSITION_ERRORS = dict.fromkeys(("invalid", "min_value", "max_value", "max_string_length"), POSITION_MESSAGE)


class WholeNumberField(serializers.IntegerField):
    """A JSON integer: DRF's IntegerField would also take "3" and 3.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StageOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()
    position = serializers.IntegerField()
    end_stage = serializers.BooleanField()
    outcome = serializers.ChoiceField(choices=Stage.Outcome.choices, allow_blank=True)


class StageIn(InputSerializer):
    # The answer's id may be sent back with a change; it is ignored.
    id = serializers.JSONField(required=False, help_text="Ignored.")
    name = name_field(required=False)
    color = StrictCharField(required=False, error_messages={"invalid": "Must be a colour such as #2563eb."})
    position = WholeNumberField(required=False, min_value=0, max_value=INT32_MAX, error_messages=POSITION_ERRORS)
    end_stage = StrictBooleanField(required=False)
    outcome = choice_field(Stage.Outcome.choices, required=False, allow_null=True, allow_blank=True)


class FieldOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=Field.Type.choices)
    required = serializers.BooleanField()
    editable = serializers.BooleanField()
    options = serializers.ListField(child=serializers.CharField())
    unique = serializers.BooleanField()
    position = serializers.IntegerField()


class FieldIn(InputSerializer):
    id = serializers.JSONField(required=False, help_text="Ignored.")
    name = name_field(required=False)
    type = choice_field(Field.Type.choices, required=False)
    required = StrictBooleanField(required=False)
    editable = StrictBooleanField(required=False)
    options = serializers.ListField(
        child=StrictCharField(allow_blank=True),
        required=False,
        allow_null=True,
        error_messages={"not_a_list": "Must be a list of strings."},
    )
    unique = StrictBooleanField(required=False)
    position = WholeNumberField(required=False, min_value=0, max_value=INT32_MAX, error_messages=POSITION_ERRORS)


class TaskObject(InputSerializer):
    """A task: keys are the flow's field names (with the built-ins), values as the flow's schema types them.

    Read and written as it is; the flow's schema (not this class) says which keys and values are valid.
    """

    unknown_message = None
    body_message = "must be a JSON object"

    def to_internal_value(self, data):
        return data

    def to_representation(self, instance):
        return instance


TASK_VALUE = {
    "nullable": True,
    "oneOf": [
        build_basic_type(OpenApiTypes.STR),
        build_basic_type(OpenApiTypes.BOOL),
        build_array_type({}),
    ],
}


class TaskObjectSchema(OpenApiSerializerExtension):
    target_class = TaskObject
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        properties = {
            "Stage": {**build_basic_type(OpenApiTypes.STR), "description": "The stage's name."},
            "Assigned To": {**build_basic_type(OpenApiTypes.EMAIL), "nullable": True},
        }
        required = []
        if direction == "response":
            properties["Tags"] = build_array_type(build_basic_type(OpenApiTypes.STR))
            properties["Task URL"] = build_basic_type(OpenApiTypes.URI)
            properties["id"] = build_basic_type(OpenApiTypes.INT)
            required = ["Stage", "Assigned To", "Tags", "Task URL", "id"]
        else:
            properties["Tags"] = build_array_type(build_basic_type(OpenApiTypes.STR))
        schema_ = build_object_type(
            properties=properties,
            required=required,
            description=(
                "Keyed by the flow's field names. Text, numbers, dates and single choices are strings "
                '("20", "2020-01-31"), checkboxes booleans, multiple choices and files arrays, '
                "and an empty value null."
            ),
        )
        schema_["additionalProperties"] = TASK_VALUE
        return schema_


class CommentAuthorOut(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()


class CommentOut(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    author = CommentAuthorOut(allow_null=True)
    created_at = serializers.DateTimeField()


EMPTY_COMMENT = "must not be empty"


class CommentIn(InputSerializer):
    unknown_message = None
    body = StrictCharField(
        max_length=COMMENT_MAX,
        help_text="The comment's text; @name mentions notify flow members.",
        error_messages={
            **dict.fromkeys(("invalid", "blank", "required", "null"), EMPTY_COMMENT),
            "max_length": f"must be at most {COMMENT_MAX:,} characters",
        },
    )
