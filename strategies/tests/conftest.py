import pytest

from strategies.admin import PARAMETER_FIELDS
from strategies.models import Strategy


@pytest.fixture
def plain_static(settings):
    """Static files served by name: with DEBUG off the settings pick the manifest storage, which needs collectstatic."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else ""
    return str(value)


@pytest.fixture
def save_strategy(admin_client, plain_static):
    """save_strategy(strategy_id, edits={name: {field: value}}, new=[{field: value}], delete=[name], **strategy_fields)

    Posts the admin change form as a browser would, with the stored values plus the edits.
    Returns the response (302 when saved, 200 with the errors when refused).
    """

    def post(strategy_id: int, *, edits=None, new=(), delete=(), **strategy_fields):
        strategy = Strategy.objects.get(id=strategy_id)
        rows = list(strategy.parameters.order_by("display_order", "id"))
        data = {
            "name": strategy.name,
            "key": strategy.key,
            "kind": strategy.kind,
            "entry_rule": strategy.entry_rule,
            "exit_rule": strategy.exit_rule,
            "description": strategy.description,
            "is_active": "on" if strategy.is_active else "",
            "parameters-TOTAL_FORMS": str(len(rows) + len(new)),
            "parameters-INITIAL_FORMS": str(len(rows)),
            "parameters-MIN_NUM_FORMS": "0",
            "parameters-MAX_NUM_FORMS": "1000",
        }
        data.update({k: _value(v) for k, v in strategy_fields.items()})
        for i, row in enumerate(rows):
            values = {f: getattr(row, f) for f in PARAMETER_FIELDS} | (edits or {}).get(row.parameter_name, {})
            data.update({f"parameters-{i}-{f}": _value(v) for f, v in values.items()})
            data[f"parameters-{i}-id"] = str(row.id)
            data[f"parameters-{i}-strategy"] = str(strategy.id)
            if row.parameter_name in delete:
                data[f"parameters-{i}-DELETE"] = "on"
        for j, values in enumerate(new, start=len(rows)):
            values = {"display_order": 0, "is_active": True, "options": "", "display_name": ""} | values
            data.update({f"parameters-{j}-{f}": _value(v) for f, v in values.items()})
            data[f"parameters-{j}-strategy"] = str(strategy.id)
        data = {k: v for k, v in data.items() if v != ""}
        return admin_client.post(f"/admin/strategies/strategy/{strategy_id}/change/", data)

    return post


def field_errors(response) -> dict[str, dict[str, list[str]]]:
    """{parameter_name: {field: [messages]}} of the inline forms with errors."""
    formset = response.context["inline_admin_formsets"][0].formset
    return {
        (form.cleaned_data.get("parameter_name") or form.data.get(f"{form.prefix}-parameter_name")): {
            field: list(messages) for field, messages in form.errors.items()
        }
        for form in formset.forms
        if form.errors
    }
