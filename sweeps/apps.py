from django.apps import AppConfig


class SweepsConfig(AppConfig):
    name = "sweeps"
    verbose_name = "Parameter sweeps"

    def ready(self) -> None:
        # The sweep's job joins the jobs every backend can run (runs.jobs.JOBS), by name.
        from runs.jobs import JOBS

        from .jobs import sweep_chunk

        JOBS["sweep_chunk"] = sweep_chunk
