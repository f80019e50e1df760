"""Strategies with their parameter definitions inline. A definition that cannot work is refused on its field."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from .engine import InvalidParameters
from .models import Strategy, StrategyParameter
from .services import strategy_defaults_validate, strategy_keys, strategy_parameter_validate


class StrategyForm(forms.ModelForm):
    key = forms.ChoiceField(help_text="The engine implementation this strategy runs.")

    class Meta:
        model = Strategy
        fields = ["name", "key", "description", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = [(k, k) for k in strategy_keys()]


class ParameterFormSet(BaseInlineFormSet):
    def add_fields(self, form, index) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:  # a checkbox in a table cell, with no <label> of its own
            form.fields["DELETE"].widget.attrs["aria-label"] = "Delete this definition"

    def clean(self) -> None:
        """Check each kept definition against the strategy's engine, then the active defaults together."""
        super().clean()
        key = self.instance.key
        defaults, form_of = {}, {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or form.errors:
                continue
            try:
                default = strategy_parameter_validate(
                    strategy_key=key,
                    parameter_name=data.get("parameter_name", ""),
                    parameter_type=data.get("parameter_type", ""),
                    default_value=data.get("default_value", ""),
                    min_value=data.get("min_value"),
                    max_value=data.get("max_value"),
                    options=data.get("options", ""),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
                continue
            if data.get("is_active"):
                defaults[data["parameter_name"]] = default
                form_of[data["parameter_name"]] = form
        if any(form.errors for form in self.forms) or not defaults:
            return
        try:
            strategy_defaults_validate(strategy_key=key, defaults=defaults)
        except InvalidParameters as exc:
            form_of[exc.parameter].add_error("default_value", f"with the other defaults: {exc.rule}")


class PlainNumberInput(forms.NumberInput):
    """A decimal column's value as typed: 2 and 0.5, not 2.0000000000 and 0E-10."""

    def format_value(self, value):
        if isinstance(value, Decimal) and value.is_finite():
            return format(value.normalize(), "f")
        return super().format_value(value)


class StrategyParameterInline(admin.TabularInline):
    model = StrategyParameter
    formset = ParameterFormSet
    extra = 0
    fields = [
        "parameter_name",
        "display_name",
        "parameter_type",
        "default_value",
        "min_value",
        "max_value",
        "options",
        "display_order",
        "is_active",
    ]
    ordering = ["display_order", "id"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # One-line inputs: the tabular inline stays readable.
        if db_field.name in ("default_value", "options"):
            kwargs["widget"] = forms.TextInput(attrs={"size": 18})
        if db_field.name in ("min_value", "max_value"):
            kwargs["widget"] = PlainNumberInput(attrs={"step": "any"})
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        # A table row's inputs have no <label> of their own: each names its column.
        if field is not None:
            field.widget.attrs.setdefault("aria-label", str(db_field.verbose_name).capitalize())
        return field


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    form = StrategyForm
    inlines = [StrategyParameterInline]
    list_display = ["id", "name", "key", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "key"]
    readonly_fields = ["created_at"]
