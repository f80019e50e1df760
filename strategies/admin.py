"""Strategies with their parameter definitions inline. A definition that cannot work is refused on its field.

A strategy is a built-in (one of the engine's six, by key) or a rule strategy: its entry and
exit rules (spec/RULES.md) and its own parameter definitions. Saving a rule strategy checks
the rules against the definitions; each refusal shows under its rule with a caret under
the column, and the change form shows what the rules were understood to be.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .engine import EngineError, InvalidParameters, ParamSpec
from .engine.rules import HELP, RulesInvalid
from .models import Strategy, StrategyParameter
from .services import (
    rule_parameter_validate,
    strategy_defaults_validate,
    strategy_engine_get,
    strategy_keys,
    strategy_parameter_validate,
    strategy_rules_check,
    strategy_rules_key,
    strategy_stop_loss_ensure,
    strategy_try,
)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


# Classes of static/app/admin.css, not style attributes: the Content-Security-Policy refuses those.
_MONO = "rule-input"


def rules_help() -> str:
    """The functions and operators with a one-line example each (beside the entry rule)."""
    rows = format_html_join("", "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>", HELP)
    return format_html(
        '<details><summary>Functions and operators</summary><table class="rules-help">'
        "<tr><th>form</th><th>meaning</th><th>example</th></tr>{}</table>"
        "<p>x: any series; n: a period (an integer, or an integer parameter whose min is at least 1); "
        "m: a number. Parameters are used by name; stop_loss_threshold is added for you.</p></details>",
        rows,
    )


def rule_error_html(message: str, text: str, line: int, column: int, caret: str) -> str:
    """A refusal under its field: the reason, then the rule's line with a caret under the column."""
    return format_html(
        '{}<pre class="rule-caret">{}</pre>',
        f"line {line}, column {column}: {message}",
        caret,
    )


class StrategyForm(forms.ModelForm):
    key = forms.ChoiceField(required=False, help_text="The engine implementation a built-in runs.")

    class Meta:
        model = Strategy
        fields = ["name", "kind", "key", "description", "is_active", "entry_rule", "exit_rule"]
        widgets = {
            "entry_rule": forms.Textarea(attrs={"rows": 3, "class": _MONO}),
            "exit_rule": forms.Textarea(attrs={"rows": 3, "class": _MONO}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" not in self.fields:  # a view-only page: no inputs, nothing to set up
            return
        # A form posted without the kind (as before rule strategies existed) keeps the row's.
        self.fields["kind"].required = False
        self.fields["key"].choices = [("", "---------")] + [(k, k) for k in strategy_keys()]
        if self.instance.pk and self.instance.is_rules:
            self.fields["key"].choices = [(self.instance.key, self.instance.key)]
        self.fields["entry_rule"].help_text = mark_safe(
            "When to buy, e.g. <code>rsi(close, rsi_period) &lt; oversold and close &gt; sma(close, 200)</code>. "
            + rules_help()
        )
        self.fields["exit_rule"].help_text = mark_safe(
            "When to sell, e.g. <code>crosses_above(rsi(close, rsi_period), overbought)</code>. "
            "The stop-loss (stop_loss_threshold) applies as for the built-ins."
        )
        # The parameter formset checks the rules against the definitions and puts each
        # refusal on this form's field (see ParameterFormSet.clean).
        self.instance._admin_form = self

    def clean(self):
        data = super().clean()
        kind = data["kind"] = data.get("kind") or self.instance.kind
        if kind == Strategy.Kind.BUILTIN:
            if self.instance.pk and self.instance.is_rules:
                self.add_error("kind", "a rule strategy cannot become a built-in; add a new one")
            elif not data.get("key") or data["key"] not in strategy_keys():
                self.add_error("key", "a built-in strategy names its engine implementation")
            for field in ("entry_rule", "exit_rule"):
                if (data.get(field) or "").strip():
                    self.add_error(field, "only rule strategies have rules; leave this empty for a built-in")
        elif kind == Strategy.Kind.RULES:
            if self.instance.pk and not self.instance.is_rules:
                self.add_error("kind", "a built-in strategy cannot become a rule strategy; add a new one")
            for field in ("entry_rule", "exit_rule"):
                if not (data.get(field) or "").strip():
                    self.add_error(field, "a rule strategy needs this rule")
            data["key"] = self.instance.key if self.instance.pk else strategy_rules_key()
        return data


def _definition(data: dict) -> dict:
    """A parameter form's cleaned data as the validators' keyword arguments."""
    return {
        "parameter_name": data.get("parameter_name", ""),
        "parameter_type": data.get("parameter_type", ""),
        "default_value": data.get("default_value", ""),
        "min_value": data.get("min_value"),
        "max_value": data.get("max_value"),
        "options": data.get("options", ""),
    }


class ParameterFormSet(BaseInlineFormSet):
    def add_fields(self, form, index) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:  # a checkbox in a table cell, with no <label> of its own
            form.fields["DELETE"].widget.attrs["aria-label"] = "Delete this definition"

    def clean(self) -> None:
        """Check each kept definition (against the engine for a built-in), then the defaults
        together (a built-in) or the rules against the definitions (a rule strategy)."""
        super().clean()
        parent = getattr(self.instance, "_admin_form", None)
        parent_data = getattr(parent, "cleaned_data", None) or {}
        if parent_data.get("kind", self.instance.kind) == Strategy.Kind.RULES:
            self._clean_rules(parent, parent_data)
            return
        key = parent_data.get("key") or self.instance.key
        defaults, form_of, labels = {}, {}, {}
        for form in self._kept():
            data = form.cleaned_data
            try:
                default = strategy_parameter_validate(strategy_key=key, **_definition(data))
            except ValidationError as exc:
                form.add_error(None, exc)
                continue
            if data.get("is_active"):
                defaults[data["parameter_name"]] = default
                form_of[data["parameter_name"]] = form
                labels[data["parameter_name"]] = data.get("display_name") or ""
        if any(form.errors for form in self.forms) or not defaults:
            return
        try:
            strategy_defaults_validate(strategy_key=key, defaults=defaults, labels=labels)
        except InvalidParameters as exc:
            form_of[exc.parameter].add_error("default_value", f"with the other defaults: {exc.rule}")

    def _kept(self):
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if data and not data.get("DELETE") and not form.errors:
                yield form

    def _clean_rules(self, parent, parent_data) -> None:
        specs = []
        for form in self._kept():
            data = form.cleaned_data
            try:
                default = rule_parameter_validate(**_definition(data))
            except ValidationError as exc:
                form.add_error(None, exc)
                continue
            if data.get("is_active"):
                specs.append(
                    ParamSpec(
                        data["parameter_name"],
                        data["parameter_type"],
                        default,
                        data.get("display_name") or "",
                        None if data.get("min_value") is None else float(data["min_value"]),
                        None if data.get("max_value") is None else float(data["max_value"]),
                    )
                )
        if any(form.errors for form in self.forms):
            return
        entry, exit_ = parent_data.get("entry_rule"), parent_data.get("exit_rule")
        if not entry or not exit_:
            return  # the parent form says which is missing
        try:
            strategy_rules_check(entry_rule=entry, exit_rule=exit_, parameters=specs)
        except RulesInvalid as exc:
            for field, error in exc.errors.items():
                if field in ("entry_rule", "exit_rule") and parent is not None:
                    text = parent_data[field]
                    parent.add_error(
                        field,
                        ValidationError(
                            rule_error_html(error.message, text, error.line, error.column, error.caret(text))
                        ),
                    )
                else:
                    raise ValidationError(error.message) from None
            # the formset must fail too, or the admin would save the strategy: it decided that
            # the strategy form was valid before this check ran
            raise ValidationError("The rules do not check: see the errors under the rules above.") from None


class PlainNumberInput(forms.NumberInput):
    """A decimal column's value as typed: 2 and 0.5, not 2.0000000000 and 0E-10."""

    def format_value(self, value):
        if isinstance(value, Decimal) and value.is_finite():
            return format(value.normalize(), "f")
        return super().format_value(value)


# The columns of a parameter definition the admin edits (the tests post the same form).
PARAMETER_FIELDS = (
    "parameter_name",
    "display_name",
    "parameter_type",
    "default_value",
    "min_value",
    "max_value",
    "options",
    "display_order",
    "is_active",
)


class StrategyParameterInline(admin.TabularInline):
    model = StrategyParameter
    formset = ParameterFormSet
    extra = 0
    fields = list(PARAMETER_FIELDS)
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

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0  # a new rule strategy starts with one empty definition


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    form = StrategyForm
    inlines = [StrategyParameterInline]
    list_display = ["id", "name", "kind", "key", "is_active", "created_at"]
    list_filter = ["is_active", "kind"]
    search_fields = ["name", "key"]
    readonly_fields = ["created_at", "understood", "try_on_one_coin"]

    def get_fields(self, request, obj=None):
        fields = ["name", "kind", "key", "description", "is_active", "entry_rule", "exit_rule"]
        if obj is not None and obj.is_rules:
            fields += ["understood", "try_on_one_coin"]
        return [*fields, "created_at"]

    @admin.display(description="Understood as")
    def understood(self, obj: Strategy) -> str:
        try:
            summary = strategy_engine_get(strategy=obj).summary()
        except (RulesInvalid, EngineError) as exc:
            return f"the saved rules do not check: {exc}"
        return format_html(
            "warm-up {} bars at the defaults; indicators: {}; parameters used: {}; defined but unused: {}",
            summary["warmup"],
            ", ".join(summary["indicators"]) or "none",
            ", ".join(summary["parameters_used"]) or "none",
            ", ".join(summary["parameters_unused"]) or "none",
        )

    @admin.display(description="Try")
    def try_on_one_coin(self, obj: Strategy) -> str:
        url = reverse("admin:strategies_strategy_try", args=[obj.pk])
        return format_html('<a class="button" href="{}">Try on one coin</a> (the saved rules, their defaults)', url)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance.is_rules:
            strategy_stop_loss_ensure(strategy=form.instance)

    def response_add(self, request, obj, post_url_continue=None):
        self._say_understood(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        self._say_understood(request, obj)
        return super().response_change(request, obj)

    def _say_understood(self, request, obj: Strategy) -> None:
        if obj.is_rules:
            self.message_user(request, format_html("Rules understood as: {}", self.understood(obj)), messages.INFO)

    def get_urls(self):
        own = [
            path(
                "<int:strategy_id>/try/",
                self.admin_site.admin_view(self.try_view),
                name="strategies_strategy_try",
            )
        ]
        return own + super().get_urls()

    def try_view(self, request, strategy_id: int):
        """Backtest the saved rules with their defaults on the chosen coin: trades and return."""
        from market_data.models import Cryptocurrency

        strategy = get_object_or_404(Strategy, pk=strategy_id)
        if not self.has_view_or_change_permission(request, strategy):
            raise PermissionError
        coins = list(Cryptocurrency.objects.active().order_by("symbol"))
        chosen = request.GET.get("coin")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Try {strategy.name} on one coin",
            "opts": self.model._meta,
            "original": strategy,
            "coins": coins,
            "chosen": chosen,
            "result": None,
            "error": None,
        }
        coin = next((c for c in coins if c.symbol == chosen), None)
        if chosen and coin is None:
            context["error"] = f"unknown coin {chosen!r}"
        elif coin is not None:
            try:
                result = strategy_try(strategy=strategy, crypto_id=coin.id)
            except (EngineError, RulesInvalid) as exc:
                context["error"] = str(exc)
            else:
                context["result"] = result
                context["total_return"] = f"{result.metrics['total_return']:.2f}"
                context["trades"] = [
                    {
                        **t,
                        "entry_at": _iso(t["entry_time"]),
                        "exit_at": _iso(t["exit_time"]),
                        "return": f"{t['return_pct']:.2f}",
                    }
                    for t in result.trades[:500]
                ]
        return TemplateResponse(request, "admin/strategies/strategy/try.html", context)
