from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from backtest_site.pages import data_page

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("market_data.urls")),
    path("api/", include("strategies.urls")),
    path("api/", include("sweeps.urls")),
    path("data/", data_page, name="data-page"),
    path("", include("runs.urls")),
    path("", include("backtest_site.pages")),
]

handler404 = "backtest_site.schema.not_found"
