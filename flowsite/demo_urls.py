import json

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def echo(request):
    """Demo-mode receiver for the demo flow's API Call: pushes the close date back a month."""
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "expected JSON"}, status=400)
    task = payload.get("task") if isinstance(payload, dict) else None
    if not isinstance(task, dict):
        return JsonResponse({"error": "expected a task"}, status=400)
    return JsonResponse({"task": {"Notes": f"Echoed by the demo receiver for action {payload.get('action')!r}."}})


urlpatterns = [path("echo", echo, name="demo_echo")]
