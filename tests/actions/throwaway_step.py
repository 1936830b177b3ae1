"""A step type that exists only for tests: this one module and its form partial
(tests/actions/templates/steps/throwaway_greet.html) are all it takes for the builder, the workflow
editor, the API and the engine to know it. Imported by the `throwaway_type` fixture, which adds the
partial's template directory and takes the type out of the registry again."""

from rest_framework import serializers

from actions.steps.base import (
    StepConfigError,
    StepConfigSerializer,
    StepForm,
    StepResult,
    StepType,
    only_keys,
    register,
)


class GreetConfig(StepConfigSerializer):
    greeting = serializers.CharField(max_length=50)


@register
class Greet(StepType):
    type = "throwaway_greet"
    label = "Throwaway greeting"
    description = "Says hello (a test's own step type)."
    Config = GreetConfig
    form = StepForm("steps/throwaway_greet.html", defaults={"greeting": ""})

    def validate(self, config, *, flow=None, organization=None, old=None):
        only_keys(config, {"greeting"})
        greeting = config.get("greeting")
        if not isinstance(greeting, str) or not greeting.strip():
            raise StepConfigError("greeting", "say something")
        return {"greeting": greeting.strip()}

    def summary(self, config):
        return f"Say {config.get('greeting')}"

    def execute(self, ctx, config):
        return StepResult(output={"said": config["greeting"]})
