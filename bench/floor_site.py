"""The floor for task ingest: a plain Django view (no DRF, no middleware) that parses JSON and
inserts one row, on the same database settings as Flowsite. Served by gunicorn exactly like
Flowsite, with DJANGO_SETTINGS_MODULE=bench.floor_site."""

import json

from flowsite.settings import DATABASES, SECRET_KEY  # noqa: F401  (same database settings)

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.floor_site"
USE_TZ = True


def ingest(request):
    from django.db import connection, transaction
    from django.http import JsonResponse

    data = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor (payload) VALUES (%s)", [json.dumps(data)])
    return JsonResponse({"ok": True}, status=201)


def _urls():
    from django.urls import path

    return [path("ingest", ingest)]


urlpatterns = _urls()


def application(environ, start_response):
    global _app
    if _app is None:
        from django.core.wsgi import get_wsgi_application

        _app = get_wsgi_application()
    return _app(environ, start_response)


_app = None
