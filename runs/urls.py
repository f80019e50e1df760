from django.urls import path

from . import api, streams, views

app_name = "runs"

urlpatterns = [
    # The original system's endpoint, unchanged for existing clients (with or without a trailing slash).
    path("api/crypto/backtest/stream", views.backtest_stream, name="backtest-stream"),
    path("api/crypto/backtest/stream/", views.backtest_stream),
    path("api/runs/", api.RunListCreateApi.as_view(), name="run-list"),
    path("api/runs/compare/", api.RunCompareApi.as_view(), name="run-compare"),
    path("api/runs/<uuid:run_id>/", api.RunDetailApi.as_view(), name="run-detail"),
    path("api/runs/<uuid:run_id>/portfolio/", api.RunPortfolioApi.as_view(), name="run-portfolio"),
    path("api/runs/<uuid:run_id>/results/<str:symbol>/", api.RunResultApi.as_view(), name="run-result"),
    path(
        "api/runs/<uuid:run_id>/results/<str:symbol>/chart/", api.RunResultChartApi.as_view(), name="run-result-chart"
    ),
    path("api/runs/<uuid:run_id>/cancel/", api.RunCancelApi.as_view(), name="run-cancel"),
    path("api/runs/<uuid:run_id>/events/", streams.run_events, name="run-events"),
]
