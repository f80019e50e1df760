from django.urls import path

from . import api

app_name = "sweeps"

urlpatterns = [
    path("sweeps/", api.SweepListCreateApi.as_view(), name="sweep-list"),
    path("sweeps/preview/", api.SweepPreviewApi.as_view(), name="sweep-preview"),
    path("sweeps/<uuid:sweep_id>/", api.SweepDetailApi.as_view(), name="sweep-detail"),
    path("sweeps/<uuid:sweep_id>/cells/<int:n>/", api.SweepCellApi.as_view(), name="sweep-cell"),
    path("sweeps/<uuid:sweep_id>/cancel/", api.SweepCancelApi.as_view(), name="sweep-cancel"),
    path("sweeps/<uuid:sweep_id>/resume/", api.SweepResumeApi.as_view(), name="sweep-resume"),
    path("sweeps/<uuid:sweep_id>/events/", api.sweep_events, name="sweep-events"),
]
