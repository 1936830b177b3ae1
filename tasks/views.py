"""Pages for tasks: the board and the task page."""

from django.shortcuts import render

from flows.models import Flow


def board(request, flow: Flow):
    stages = list(flow.stages.all())
    return render(request, "tasks/board.html", {"flow": flow, "stages": stages})
