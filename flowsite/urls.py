from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from flowsite.bounds import IdConverter

# `<id:...>` in every app's URLs: an id too large for any table is no match (404), not an overflow (500).
register_converter(IdConverter, "id")

api_patterns = [
    # The Task API first: its writes are the busiest path (no path matches two apps' patterns, so the
    # order only spares the others' patterns a look).
    path("", include("tasks.urls_api")),
    path("", include("flows.urls_api")),
    path("", include("actions.urls_api")),
    path("", include("workflows.urls_api")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, so the page needs no inline script (CSP).
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]

urlpatterns = [
    # Browsers ask for /favicon.ico where a page links no icon (the API docs, error pages).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("api/", include((api_patterns, "api"))),
    # flows first: its "flows/<org>/new" must win over the board at "flows/<org>/<flow>" (tasks).
    path("", include("flows.urls")),
    path("", include("tasks.urls")),
    path("", include("actions.urls")),
    path("", include("workflows.urls")),
]

if settings.DEMO_MODE:
    urlpatterns.append(path("demo/", include("flowsite.demo_urls")))
