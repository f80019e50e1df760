from django.apps import AppConfig


class SweepsConfig(AppConfig):
    name = "sweeps"
    verbose_name = "Parameter sweeps"

    def ready(self) -> None:
        # The sweep's job joins the jobs every backend can run (runs.jobs.JOBS), by name.
        from runs.jobs import JOBS
        from runs.services import BATCH_MODELS, FINALS

        from .jobs import sweep_chunk
        from .models import Sweep
        from .services import channel_name, sweep_final_payload

        JOBS["sweep_chunk"] = sweep_chunk
        if Sweep not in BATCH_MODELS:  # its leases are kept with the runs'
            BATCH_MODELS.append(Sweep)
        FINALS[Sweep] = (channel_name, sweep_final_payload)  # an interrupted sweep's stream ends too
