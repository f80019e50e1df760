from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from backtest_site.health import healthz, metrics
from backtest_site.pages import data_page

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view: Swagger UI's start-up script is a file of its own, not inline (the CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # Redoc builds its styles as <style> elements (styled-components) and searches in a blob: worker:
    # allowed on this page only (replaced, not added to: with a hash beside it, 'unsafe-inline' is ignored).
    path(
        "api/redoc/",
        csp_replace({"style-src-elem": ["'self'", "'unsafe-inline'"], "worker-src": ["'self'", "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="api-redoc",
    ),
    path("api/", include("market_data.urls")),
    path("api/", include("strategies.urls")),
    path("api/", include("sweeps.urls")),
    path("data/", data_page, name="data-page"),
    path("", include("runs.urls")),
    path("", include("backtest_site.pages")),
]

handler404 = "backtest_site.schema.not_found"
