"""create_opportunity: turn a lead into an opportunity (fields copied by name, both linked) and move
the lead to its "converted" stage, which fires lead_converted the normal way."""

from __future__ import annotations

from actions.steps.base import StepForm, register
from tasks.services import task_set_stage
from workflows.steps._convert import Convert


@register
class CreateOpportunity(Convert):
    type = "create_opportunity"
    label = "Create opportunity"
    description = "Create an opportunity from the lead (fields copied by name) and mark the lead converted."
    source_module = "leads"
    target_module = "opportunities"
    form = StepForm("steps/convert.html", rows=("fields",), optional=("stage",), target_module="opportunities")
    relation = "opportunity"
    noun = "opportunity"

    def after(self, ctx, source, output):
        converted = source.flow.stages.filter(outcome="converted").order_by("position", "id").first()
        output["converted"] = converted is not None
        if converted is not None and source.stage_id != converted.pk:
            task_set_stage(task=source, actor=None, stage=converted, source=ctx.source, depth=ctx.depth)
