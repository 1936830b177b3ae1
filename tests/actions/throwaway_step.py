"""A step type that exists only for tests: this one module (no form partial: the editors give it a
JSON editor) is all it takes for the builder, the workflow editor, the API and the engine to know it.
Imported by the `throwaway_type` fixture, which takes it out of the registry again."""

from rest_framework import serializers

from actions.steps.base import StepConfigError, StepConfigSerializer, StepResult, StepType, only_keys, register


class GreetConfig(StepConfigSerializer):
    greeting = serializers.CharField(max_length=50)


@register
class Greet(StepType):
    type = "throwaway_greet"
    label = "Throwaway greeting"
    description = "Says hello (a test's own step type)."
    Config = GreetConfig

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
