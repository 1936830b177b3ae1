"""The step-type registry: one module per type, each declaring its names, its config serializer
(validation with per-field errors, secrets marked, the OpenAPI shape of its config), its form partial,
its one-line summary and its behaviour. Nothing else in Flowsite branches on a step's type: the
editors, the API and the engine read what the registry holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rest_framework import serializers

from tasks.services import flow_fields, task_to_json

if TYPE_CHECKING:
    from actions.models import Run
    from flows.models import Flow, User
    from tasks.models import Task

# Filled once per process as the apps load (actions.apps, workflows.apps), only read after that.
REGISTRY: dict[str, type[StepType]] = {}


class StepConfigError(Exception):
    """A step's config is wrong; `field` names the config key."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class StepFailed(Exception):
    """The step ran and failed; the message is shown to people (never a stack trace or a secret).
    `retryable`: the same call may succeed later (the outbound call could not complete), for the
    step types that retry (webhook)."""

    def __init__(
        self, message: str, *, request: dict | None = None, response: dict | None = None, retryable: bool = False
    ):
        self.message = message
        self.request = request
        self.response = response
        self.retryable = retryable
        super().__init__(message)


class StepRetry(Exception):
    """A transient failure: run the step again at `wake_at` (webhook retries)."""

    def __init__(self, message: str, *, wake_at: datetime, request: dict | None = None, response: dict | None = None):
        self.message = message
        self.wake_at = wake_at
        self.request = request
        self.response = response
        super().__init__(message)


@dataclass
class StepContext:
    run: Run
    flow: Flow
    task: Task | None
    user: User | None
    path: str
    idempotency_key: str
    attempt: int
    depth: int
    # What the engine needs to know from the step beyond success.
    trigger: dict[str, Any] = field(default_factory=dict)
    # The flow's fields, shared by a run's consecutive steps (steps never change the schema).
    fields: list | None = field(default=None, repr=False)
    # The engine's run_create, handed in so a step can start a run of its own (a scheduled stage
    # change) without the step modules importing the engine, which imports them.
    run_create: Callable[..., Run] | None = field(default=None, repr=False)
    # The run's task as this step's `apply` left it (read under its row lock and written in the
    # step's transaction): once that commits, the engine hands it to the next step instead of
    # reading the task again.
    task_after: Task | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        return "workflow" if self.run.kind == "workflow" else "action"

    def flow_fields(self) -> list:
        if self.fields is None:
            self.fields = flow_fields(flow=self.flow)
        return self.fields

    def task_json(self) -> dict:
        """The task as the Task API shows it now (the engine reads the task fresh for every step, or
        hands on what the step before it wrote)."""
        same_flow = self.task.flow_id == self.flow.pk
        return task_to_json(task=self.task, fields=self.flow_fields() if same_flow else None)


@dataclass
class StepResult:
    output: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    # Park the run until this time, then continue with the next step.
    wait_until: datetime | None = None
    # Steps to run next in place of nothing (branch): a list of step dicts and a label.
    branch: tuple[str, list[dict]] | None = None
    # End the run successfully after this step (the task is gone).
    stop: bool = False
    # Database changes, applied by the engine in the same transaction that records the step,
    # so a crash can never apply them without recording them (or the reverse).
    apply: Callable[[], None] | None = None


class StepConfigSerializer(serializers.Serializer):
    """Base of the step types' config serializers (`StepType.Config`). The declared fields are the
    config's shape for the OpenAPI document; a field whose value is a secret says so with
    `style={"secret": True}`. Validation is the step type's own `validate` (it knows the flow, the
    organization and the stored config whose masked secrets are kept), so each error names its config
    key: {"url": ["must be an http:// or https:// URL"]}.

    Context: "flow", "organization", "old" (the stored config when editing)."""

    # Set by register() on the subclass it makes for each step type.
    step_type: ClassVar[type[StepType]]

    def to_internal_value(self, data):
        try:
            return self.step_type().validate(
                data,
                flow=self.context.get("flow"),
                organization=self.context.get("organization"),
                old=self.context.get("old"),
            )
        except StepConfigError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]})

    def to_representation(self, instance):
        return self.step_type().public_config(instance)


class HeaderSerializer(serializers.Serializer):
    """A request header of a step that calls out; a secret one is stored encrypted and shown masked.
    Each stored header row has a stable `id`, so a masked secret sent back is matched to its stored
    row by that id (whatever its name or place now)."""

    id = serializers.CharField(
        required=False,
        max_length=40,
        help_text="The row's stable id, as read; send it back so a masked secret keeps its stored value. "
        "A row without one gets a new id (a masked value without an id is matched by header name).",
    )
    name = serializers.CharField(max_length=200)
    value = serializers.CharField(
        allow_blank=True,
        style={"secret": True},
        help_text='Shown as "********" when secret; sending "********" back keeps the stored value.',
    )
    secret = serializers.BooleanField(required=False, default=False)


@dataclass(frozen=True)
class StepForm:
    """A step type's one form, for both editors (actions.step_forms reads and renders it): its
    partial under templates/steps/, whose inputs are named by the prefix the editor hands it plus
    the config key, and which config keys are edited how. The editors read only this, so they name
    no step type."""

    partial: str
    # Keys holding {name: value} objects, edited as name/value rows.
    rows: tuple[str, ...] = ()
    # Keys holding header rows (id, name, value, secret; a secret shown masked).
    headers: tuple[str, ...] = ()
    # Keys edited as one line of text (a list as comma-separated items).
    text: tuple[str, ...] = ()
    # Keys edited as JSON text; empty leaves the key out.
    json: tuple[str, ...] = ()
    # Keys typed as numbers; empty leaves the key out.
    numbers: tuple[str, ...] = ()
    # Keys left out of the config when empty.
    optional: tuple[str, ...] = ()
    # Config keys whose errors belong to another key's input ({"performer": "email"}).
    inputs: dict = field(default_factory=dict)
    # The partial offers people.
    people: bool = False
    # The flow module the step writes to (its stages and fields are offered).
    target_module: str | None = None
    # Conditions and then/else actions (a branch).
    nested: bool = False
    # A new step's config.
    defaults: dict = field(default_factory=dict)


class StepType:
    """Base of every step type. Subclasses set `type`, `label`, `Config` (their config serializer),
    `form` (its StepForm; None: a JSON editor), and override validate/execute/summary."""

    type: ClassVar[str]
    label: ClassVar[str]
    # Other names the seeds, the APIs and stored programs use for this same type.
    aliases: ClassVar[tuple[str, ...]] = ()
    # The config's shape (declared fields); register() derives `config_serializer` from it.
    Config: ClassVar[type[StepConfigSerializer]] = StepConfigSerializer
    config_serializer: ClassVar[type[StepConfigSerializer]]
    # The type's one form, for both editors; None: a JSON editor.
    form: ClassVar[StepForm | None] = None
    # Whether the editor offers "Send test request" (the type calls out: see trial_payload).
    tryable: ClassVar[bool] = False
    # Where the type may be used: actions performed by people, workflows, or both.
    contexts: ClassVar[tuple[str, ...]] = ("action", "workflow")
    # Whether the step needs a task to act on.
    needs_task: ClassVar[bool] = True
    description: ClassVar[str] = ""

    def validate(
        self, config: dict[str, Any], *, flow: Flow | None, organization=None, old: dict | None = None
    ) -> dict[str, Any]:
        """Return the cleaned config or raise StepConfigError. `old` is the stored config when
        editing, so masked secrets sent back unchanged keep their stored values. Called through the
        config serializer (config_validate), never directly."""
        if not isinstance(config, dict):
            raise StepConfigError("config", "must be an object")
        return config

    def form_state(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config in the shape the type's form edits (before StepForm's keys are turned to text)."""
        return dict(config)

    def form_payload(self, config: dict[str, Any], context: dict) -> dict[str, Any]:
        """The form's config back in the type's own shape (after StepForm's keys are read).
        `context`: "field_types" ({field name: type}) when the editor knows the flow's fields."""
        return config

    def trial_request(self, config: dict[str, Any], *, task, task_json: dict, user, name: str, **context) -> dict:
        """For a tryable type: the request the step would send for the task, as
        {"method", "url", "headers", "payload"} (`name`: the action's or workflow's name; `context`:
        what a workflow run knows, "event" and "workflow_id"). "Send test request" sends it."""
        raise NotImplementedError

    def target_stage(self, config: dict[str, Any]) -> str | None:
        """The stage name the step moves the task to now, if that is what it does (the builder's
        canvas draws the action as a connector to it)."""
        return None

    @classmethod
    def for_stage(cls, stage_name: str) -> dict[str, Any] | None:
        """The config of this type's step that moves a task to the stage, if it is such a type
        (an action dragged from one stage onto another starts with it)."""
        return None

    def summary(self, config: dict[str, Any]) -> str:
        """One line saying what the step does, for the builder's step list and the run history.
        `config` is the public config (secrets masked)."""
        return ""

    def effect(self, output: dict[str, Any]) -> str:
        """What a step that succeeded did to the task, in a few words, from its output (a failed
        run's alert lists what its earlier steps already did)."""
        if "assigned_to" in output:
            return f"assigned to {output['assigned_to'] or 'nobody'}"
        if output.get("values"):
            return "updated " + ", ".join(map(str, output["values"]))
        if output.get("task"):
            return f"{self.label} updated " + ", ".join(map(str, output["task"]))
        return f"{self.label} done"

    def execute(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        raise NotImplementedError

    def secret_values(self, config: dict[str, Any]) -> list[str]:
        """Values that must never appear in run records, logs or error text."""
        return []

    def public_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config as the API and the browser may see it (secrets masked)."""
        return config


# Aliases: a name the seeds or stored programs use for a registered type (alias -> type).
ALIASES: dict[str, str] = {}


def register(cls: type[StepType]) -> type[StepType]:
    for name in (cls.type, *cls.aliases):
        if name in REGISTRY or name in ALIASES:
            raise RuntimeError(f"step type {name!r} registered twice")
    REGISTRY[cls.type] = cls
    for alias in cls.aliases:
        ALIASES[alias] = cls.type
    # One serializer class per type, named for it (the OpenAPI component "ApiCallConfig").
    name = "".join(part.capitalize() for part in cls.type.split("_")) + "Config"
    cls.config_serializer = type(name, (cls.Config,), {"step_type": cls, "__module__": cls.__module__})
    return cls


def unregister(cls: type[StepType]) -> None:
    """Take a type out of the registry again (tests that add a throwaway type)."""
    REGISTRY.pop(cls.type, None)
    for alias in cls.aliases:
        ALIASES.pop(alias, None)


def get_step_type(type_name: str) -> StepType:
    # The registry is filled when the apps are ready (actions.apps, workflows.apps).
    try:
        return REGISTRY[ALIASES.get(type_name, type_name)]()
    except (KeyError, TypeError):
        raise StepConfigError("type", f'unknown step type "{type_name}"')


def step_label(type_name: str, default: str | None = None) -> str:
    """The step type's own label ("API Call"), as both editors and the run pages show it; `default`
    (the name itself unless given) for a name no step type has."""
    cls = REGISTRY.get(ALIASES.get(type_name, type_name)) if isinstance(type_name, str) else None
    if cls is None:
        return str(type_name) if default is None else default
    return cls.label


def step_types(context: str | None = None) -> list[StepType]:
    return [cls() for cls in REGISTRY.values() if context is None or context in cls.contexts]


def stage_move_step(stage_name: str) -> dict[str, Any] | None:
    """A step {"type", "config"} that moves the task to the stage, from the type that does that."""
    for cls in REGISTRY.values():
        config = cls.for_stage(stage_name)
        if config is not None and "action" in cls.contexts:
            return {"type": cls.type, "config": config}
    return None


def config_serializers() -> list[tuple[tuple[str, ...], type[StepConfigSerializer]]]:
    """Every step type's names (its name first, then its aliases) and config serializer: what the
    OpenAPI document builds the step config's oneOf from."""
    return [((cls.type, *cls.aliases), cls.config_serializer) for cls in REGISTRY.values()]


def config_validate(
    step_type: StepType, config: Any, *, flow: Flow | None, organization=None, old: dict | None = None
) -> dict[str, Any]:
    """A step's config cleaned by its type's config serializer, or StepConfigError naming the first
    wrong key (the services turn it into the API's per-field error)."""
    serializer = step_type.config_serializer(
        data=config, context={"flow": flow, "organization": organization, "old": old}
    )
    if serializer.is_valid():
        return serializer.validated_data
    key, messages = next(iter(serializer.errors.items()))
    if key == serializers.api_settings.NON_FIELD_ERRORS_KEY:
        key = "config"
    raise StepConfigError(key, str(messages[0] if isinstance(messages, list) else messages))


def step_summary(type_name: str, config: dict[str, Any]) -> str:
    """The step's one line, from its type and its public config; "" for an unknown type or a config
    the type cannot describe (an old or broken one must not break a page)."""
    try:
        step_type = get_step_type(type_name)
        return step_type.summary(step_type.public_config(config or {}))
    except (StepConfigError, KeyError, TypeError, AttributeError, ValueError):
        return ""


def require_str(config: dict, key: str, *, max_length: int = 1000, required: bool = True, default: str = "") -> str:
    value = config.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise StepConfigError(key, "must be a string")
    value = value.strip()
    if required and not value:
        raise StepConfigError(key, "is required")
    if len(value) > max_length:
        raise StepConfigError(key, f"must be at most {max_length} characters")
    return value


def only_keys(config: Any, allowed: set[str]) -> dict:
    if not isinstance(config, dict):
        raise StepConfigError("config", "must be an object")
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise StepConfigError(unknown[0], "is not a setting of this step")
    return config
