"""create_project: start a project from an opportunity (fields copied by name, both linked)."""

from __future__ import annotations

from actions.steps.base import StepForm, register
from workflows.steps._convert import Convert


@register
class CreateProject(Convert):
    type = "create_project"
    label = "Create project"
    description = "Create a project from the opportunity, fields copied by name."
    source_module = "opportunities"
    target_module = "projects"
    form = StepForm("steps/convert.html", rows=("fields",), optional=("stage",), target_module="projects")
    relation = "project"
    noun = "project"
