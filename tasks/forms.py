"""Forms for the task pages, built from the flow's field schema.

The forms only collect what a person typed and turn it into the Task API's JSON shape; the
services validate it (one set of rules for every door), and their reasons are put back next
to the inputs with `add_service_errors`.
"""

import base64
import datetime as dt
from typing import Any

from django import forms

from flows.models import Field, Stage, User
from tasks.values import T

# The task page edits the built-ins through the same one-value form as the fields.
STAGE, ASSIGNEE, TAGS = "stage", "assignee", "tags"
BUILTIN_LABELS = {STAGE: "Stage", ASSIGNEE: "Assigned To", TAGS: "Tags"}


class _ListField(forms.Field):
    """Keeps the list a multiple select or checkboxes post (forms.Field would not validate the choices:
    the service does, with the same reason the API gives)."""

    def to_python(self, value):
        return [item for item in (value or []) if item]


def _member_choices(members: list[User]) -> list[tuple[str, str]]:
    return [("", "—")] + [
        (user.email, f"{user.name} ({user.email})" if user.name != user.email else user.email) for user in members
    ]


def value_formfield(field: Field, *, members: list[User]) -> forms.Field:
    """The input for one field's type. Nothing is required here: the service says what is missing."""
    kind = field.type
    text = {"required": False, "label": field.name}
    if kind == T.LONG_TEXT:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), strip=False, **text)
    if kind in (T.NUMBER, T.CURRENCY):
        return forms.CharField(widget=forms.NumberInput(attrs={"step": "any"}), **text)
    if kind == T.PHONE:
        return forms.CharField(widget=forms.TextInput(attrs={"type": "tel"}), **text)
    if kind == T.EMAIL:
        return forms.CharField(widget=forms.EmailInput(), **text)
    if kind == T.URL:
        return forms.CharField(widget=forms.URLInput(), **text)
    if kind == T.DATE:
        return forms.CharField(widget=forms.TextInput(attrs={"type": "date"}), **text)
    if kind == T.DATETIME:
        return forms.CharField(widget=forms.TextInput(attrs={"type": "datetime-local"}), **text)
    if kind == T.SINGLE_SELECT:
        choices = [("", "—")] + [(option, option) for option in field.options or []]
        return forms.CharField(widget=forms.Select(choices=choices), **text)
    if kind == T.MULTIPLE_SELECT:
        choices = [(option, option) for option in field.options or []]
        return _ListField(widget=forms.CheckboxSelectMultiple(choices=choices), **text)
    if kind == T.CHECKBOX:
        return forms.BooleanField(**text)
    if kind == T.PERSON:
        return forms.CharField(widget=forms.Select(choices=_member_choices(members)), **text)
    if kind == T.FILE:
        return forms.FileField(**text)
    return forms.CharField(**text)


def value_to_json(field: Field, value: Any) -> Any:
    """What the form cleaned -> the Task API's JSON value (None: no value)."""
    kind = field.type
    if kind == T.CHECKBOX:
        return bool(value)
    if kind == T.MULTIPLE_SELECT:
        return list(value or []) or None
    if kind == T.FILE:
        if not value:
            return None
        content = value.read()
        return [
            {
                "base64contents": base64.b64encode(content).decode(),
                "filename": value.name,
                "contentType": getattr(value, "content_type", None) or None,
            }
        ]
    if value is None:
        return None
    value = value.strip() if isinstance(value, str) and kind != T.LONG_TEXT else value
    return value if value not in ("", None) else None


def json_to_initial(field: Field, value: Any) -> Any:
    """The Task API's JSON value -> what the input shows."""
    if field.type == T.DATETIME and isinstance(value, str):
        try:
            # The API keeps UTC; the input has no zone, so it shows (and sends back) UTC.
            return dt.datetime.fromisoformat(value).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")
        except ValueError:
            return value
    if field.type == T.FILE:
        return None
    return value


def add_service_errors(form: forms.Form, errors: dict[str, list[str]], names: dict[str, str]) -> None:
    """Put a service's {name: [reasons]} next to the inputs; `names` maps a task JSON name (lowercased)
    to the form field that collects it. Anything else goes to the top of the form."""
    for name, reasons in errors.items():
        target = names.get(str(name).lower())
        for reason in reasons:
            if target:
                form.add_error(target, reason)
            else:
                form.add_error(None, f"{name}: {reason}" if name != "body" else reason)


class TaskCreateForm(forms.Form):
    """A new task: every field but uniqueId (numbered by the server), then Stage and Assigned To."""

    def __init__(self, *args, schema: list[Field], stages: list[Stage], members: list[User], **kwargs):
        super().__init__(*args, **kwargs)
        self.schema = [field for field in schema if field.type != T.UNIQUE_ID]
        self.stages = stages
        for field in self.schema:
            formfield = value_formfield(field, members=members)
            formfield.widget.attrs.setdefault("id", f"new-f{field.pk}")
            if field.required:
                formfield.widget.attrs["aria-required"] = "true"
            formfield.is_flow_required = field.required
            self.fields[f"f{field.pk}"] = formfield
        self.fields["stage"] = forms.TypedChoiceField(
            choices=[(stage.pk, stage.name) for stage in stages], coerce=int, required=False, label="Stage"
        )
        self.fields["assignee"] = forms.CharField(
            widget=forms.Select(choices=_member_choices(members)), required=False, label="Assigned To"
        )
        # Where the task goes and who owns it come first: they matter on every task.
        self.order_fields(["stage", "assignee"])

    def names(self) -> dict[str, str]:
        names = {field.name.lower(): f"f{field.pk}" for field in self.schema}
        names.update({"stage": "stage", "assigned to": "assignee"})
        return names

    def task_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        stage_id = self.cleaned_data.get("stage")
        stage = next((s for s in self.stages if s.pk == stage_id), None)
        if stage is not None:
            data["Stage"] = stage.name
        if self.cleaned_data.get("assignee"):
            data["Assigned To"] = self.cleaned_data["assignee"]
        for field in self.schema:
            value = value_to_json(field, self.cleaned_data.get(f"f{field.pk}"))
            if value is not None:
                data[field.name] = value
        return data


class ValueForm(forms.Form):
    """One value of a task, edited in place on the task page: a field, the stage, the assignee or the tags."""

    def __init__(self, *args, key: str, field: Field | None, stages: list[Stage], members: list[User], **kwargs):
        super().__init__(*args, **kwargs)
        self.key, self.field = key, field
        if key == STAGE:
            formfield = forms.TypedChoiceField(
                choices=[(stage.pk, stage.name) for stage in stages], coerce=int, label="Stage"
            )
        elif key == ASSIGNEE:
            formfield = forms.CharField(
                widget=forms.Select(choices=_member_choices(members)), required=False, label="Assigned To"
            )
        elif key == TAGS:
            formfield = forms.CharField(required=False, label="Tags", help_text="Separate tags with commas.")
        else:
            formfield = value_formfield(field, members=members)
        formfield.widget.attrs.setdefault("id", f"edit-{key}")
        if not isinstance(formfield.widget, forms.CheckboxSelectMultiple):
            formfield.widget.attrs["autofocus"] = True
        self.fields["value"] = formfield
        if field is not None and field.type == T.FILE:
            self.fields["clear"] = forms.BooleanField(required=False, label="Remove the current files")
        self.stages = stages

    @property
    def json_name(self) -> str:
        return self.field.name if self.field is not None else BUILTIN_LABELS[self.key]

    def task_json(self, current: Any) -> dict[str, Any]:
        """The partial update to send; `current` is the value's JSON now (files are added to it)."""
        value = self.cleaned_data.get("value")
        if self.key == STAGE:
            stage = next((s for s in self.stages if s.pk == value), None)
            return {"Stage": stage.name if stage else ""}
        if self.key == ASSIGNEE:
            return {"Assigned To": value or None}
        if self.key == TAGS:
            return {"Tags": [tag.strip() for tag in (value or "").split(",") if tag.strip()]}
        new = value_to_json(self.field, value)
        if self.field.type == T.FILE:
            kept = [] if self.cleaned_data.get("clear") else [{"blobId": item["blobId"]} for item in current or []]
            new = kept + (new or []) or None
        return {self.field.name: new}
