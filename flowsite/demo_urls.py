from datetime import date, timedelta

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from flowsite import jsonsafe


@csrf_exempt
@require_POST
def echo(request):
    """Demo-mode receiver for the demo flow's API Call: pushes the close date back a month."""
    try:
        payload = jsonsafe.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "expected JSON"}, status=400)
    task = payload.get("task") if isinstance(payload, dict) else None
    if not isinstance(task, dict):
        return JsonResponse({"error": "expected a task"}, status=400)
    # Push the close date back a month and leave a note, so the change is easy to see.
    close = task.get("Expected Close Date")
    answer = {"Notes": f'The demo receiver handled "{payload.get("action")}" for {task.get("Company Name")}.'}
    if isinstance(close, str) and len(close) == 10:
        try:
            answer["Expected Close Date"] = (date.fromisoformat(close) + timedelta(days=31)).isoformat()
        except ValueError:
            pass
    return JsonResponse({"task": answer})


urlpatterns = [path("echo", echo, name="demo_echo")]
