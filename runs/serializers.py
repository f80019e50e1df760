"""The run API's input validation and output shapes (runs/CONTRACT.md). Metrics are rounded to
2 decimals here; the database keeps full precision."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Avg, Count, Sum
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from market_data.models import INTERVALS, SYMBOL_RE, Cryptocurrency
from strategies.engine import (
    FEE_PCT,
    FILL,
    INTERVAL_MINUTES,
    PORTFOLIO_SLOTS,
    SLIPPAGE_PCT,
    STOP_MODE,
    InvalidParameters,
    ParamSpec,
)
from strategies.models import Strategy
from strategies.services import strategy_parameters_resolve

from . import access, services
from .equity import equity_unpack
from .events import round_metric, rounded_metrics
from .models import (
    INTEGER_METRICS,
    METRIC_FIELDS,
    RUN_NAME_MAX,
    RUN_NOTE_MAX,
    BacktestRun,
    RunResult,
    fill_preset,
    fills_text,
)


def run_links(run_id: Any) -> dict[str, str]:
    return {
        "url": reverse("runs:run-detail", kwargs={"run_id": run_id}),
        "events_url": reverse("runs:run-events", kwargs={"run_id": run_id}),
        "page_url": f"/runs/{run_id}/",
    }


# --- The request of a run: parsing (pure) and validation ----------------------------------

JSON_DEPTH_MAX = 32  # a run request is two levels deep; this leaves room and keeps recursion away


class BodyError(ValueError):
    """A request body that is not a JSON document we read (the message is the API's)."""


def json_depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            if depth > JSON_DEPTH_MAX:
                return depth
            stack.extend((child, depth + 1) for child in item)
    return deepest


def json_body_parse(raw: bytes) -> Any:
    """The JSON of a run request body, for both endpoints. Raises BodyError: not UTF-8 JSON, or
    nested deeper than JSON_DEPTH_MAX (1,000 levels used to raise RecursionError: a 500)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BodyError(f"The body is nested too deeply (at most {JSON_DEPTH_MAX} levels)") from None
    except (ValueError, UnicodeDecodeError):
        raise BodyError("The body is not valid JSON") from None
    if json_depth(value) > JSON_DEPTH_MAX:
        raise BodyError(f"The body is nested too deeply (at most {JSON_DEPTH_MAX} levels)")
    return value


def date_parse(value: Any, *, end_of_day: bool) -> tuple[dt.datetime | None, str]:
    """A request date: "YYYY-MM-DD" (an end date covers its whole day) or an ISO datetime.

    Returns (aware UTC datetime or None, the text to echo). Naive datetimes are UTC.
    Raises ValueError with a message for the API.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, ""
    if not isinstance(value, str):
        raise ValueError("must be a date string (YYYY-MM-DD) or an ISO 8601 datetime")
    text = value.strip()
    if len(text) == 10:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid date (YYYY-MM-DD)") from None
        moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min, tzinfo=dt.UTC)
        return moment, day.isoformat()
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date (YYYY-MM-DD) or ISO 8601 datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC), text
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is in the year 10000 in UTC
        raise ValueError(f"{text!r} is outside the years 1-9999 once converted to UTC") from None


def window_parse(start_date: Any, end_date: Any, errors: dict[str, list[str]]) -> services.Window:
    start = end = None
    start_text = end_text = ""
    try:
        start, start_text = date_parse(start_date, end_of_day=False)
    except ValueError as exc:
        errors["start_date"] = [str(exc)]
    try:
        end, end_text = date_parse(end_date, end_of_day=True)
    except ValueError as exc:
        errors["end_date"] = [str(exc)]
    if start and end and start > end:
        errors["start_date"] = [f"must not be after end_date ({start_text} > {end_text})"]
    return services.Window(start, end, start_text, end_text)


def percent_parse(value: Any, errors: dict[str, list[str]], *, spec: ParamSpec) -> float:
    """A percentage run option (fee_pct, slippage_pct): a number in the engine's range, default 0."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors[spec.name] = ["must be a number"]
        return 0.0
    try:
        number = float(value)
    except ValueError:
        errors[spec.name] = ["must be a number"]
        return 0.0
    if not spec.min <= number <= spec.max:  # also rejects NaN
        errors[spec.name] = [f"must be between {spec.min:g} and {spec.max:g} (percent per fill), got {value}"]
    return number


def fee_parse(value: Any, errors: dict[str, list[str]]) -> float:
    return percent_parse(value, errors, spec=FEE_PCT)


def option_parse(value: Any, errors: dict[str, list[str]], *, spec: ParamSpec) -> str:
    """A run option with a list of values (fill, stop_mode); its default when not given."""
    if value is None or value == "":
        return spec.default
    if value not in spec.options:
        errors[spec.name] = [f"must be one of {', '.join(spec.options)}, got {value!r}"]
        return spec.default
    return value


def interval_parse(value: Any, errors: dict[str, list[str]]) -> str:
    if value is None or value == "":
        return "1h"
    if value not in INTERVALS:
        errors["interval"] = [f"must be one of {', '.join(INTERVALS)}, got {value!r}"]
        return "1h"
    return value


def symbols_parse(value: Any, errors: dict[str, list[str]]) -> list[str]:
    """A list of symbols (or one comma-separated string); upper-cased, duplicates dropped."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        errors["symbols"] = ["must be a list of coin symbols"]
        return []
    symbols = list(dict.fromkeys(s.strip().upper() for s in value))
    malformed = [s for s in symbols if not SYMBOL_RE.fullmatch(s)]
    if malformed:  # a NUL (PostgreSQL refuses it in any string), a slash, 500 letters: no coin has it
        shown = ", ".join(repr(s[:24]) for s in malformed[:5])
        errors["symbols"] = [f"not coin symbols (1-20 letters, digits, - or _): {shown}"]
        return []
    return symbols


def text_parse(value: Any, errors: dict[str, list[str]], *, field: str, max_length: int) -> str | None:
    """A run's name or note: a string of at most max_length characters, trimmed; None when not given."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = ["must be a string"]
        return None
    text = value.strip()
    if "\x00" in text:
        errors[field] = ["must not contain NUL characters"]
        return None
    if len(text) > max_length:
        errors[field] = [f"must be at most {max_length} characters, got {len(text)}"]
        return None
    return text


ID_MAX = 2**63 - 1  # the id column's range (bigint)


def strategy_parse(value: Any, errors: dict[str, list[str]]) -> Strategy | None:
    if isinstance(value, bool) or value is None or value == "":
        errors["strategy_id"] = ["is required" if value in (None, "") else "must be an integer"]
        return None
    if isinstance(value, float) and not value.is_integer():  # 1.5 is not strategy 1; nor is NaN or inf
        errors["strategy_id"] = [f"must be an integer, got {value!r}"]
        return None
    try:
        strategy_id = int(value) if isinstance(value, (int, float)) else int(str(value), 10)
    except (TypeError, ValueError):
        errors["strategy_id"] = [f"must be an integer, got {str(value)[:40]!r}"]
        return None
    if not 1 <= strategy_id <= ID_MAX:
        errors["strategy_id"] = [f"unknown strategy {str(strategy_id)[:40]}"]
        return None
    strategy = Strategy.objects.filter(id=strategy_id).first()
    if strategy is None:
        errors["strategy_id"] = [f"unknown strategy {strategy_id}"]
    elif not strategy.is_active:
        errors["strategy_id"] = [f"strategy {strategy_id} is not active"]
        strategy = None
    return strategy


def parameters_parse(strategy: Strategy, params: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    """The strategy's parameters with defaults filled in, checked against the admin's definitions
    and the engine's rules."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        errors["parameters"] = ["must be an object of parameter names and values"]
        return {}
    try:
        return strategy_parameters_resolve(strategy=strategy, params=params)
    except InvalidParameters as exc:
        if exc.parameter == "strategy":
            errors["strategy_id"] = [exc.rule]
        else:
            errors[f"parameters.{exc.parameter}"] = [exc.rule]
        return {}


def symbols_check(symbols: Sequence[str], errors: dict[str, list[str]]) -> None:
    if not symbols:
        return
    found = dict(Cryptocurrency.objects.filter(symbol__in=symbols).values_list("symbol", "is_active"))
    unknown = [s for s in symbols if s not in found]
    inactive = [s for s in symbols if found.get(s) is False]
    messages = []
    if unknown:
        messages.append(f"unknown symbols: {', '.join(unknown)}")
    if inactive:
        messages.append(f"inactive symbols: {', '.join(inactive)}")
    if messages:
        errors["symbols"] = messages


def slots_parse(value: Any, errors: dict[str, list[str]]) -> int | None:
    """portfolio_slots: an integer 1..1000; none given means as many as the run's coins."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors["portfolio_slots"] = [f"must be an integer from {PORTFOLIO_SLOTS.min:g} to {PORTFOLIO_SLOTS.max:g}"]
        return None
    if not PORTFOLIO_SLOTS.min <= value <= PORTFOLIO_SLOTS.max:
        errors["portfolio_slots"] = [
            f"must be from {PORTFOLIO_SLOTS.min:g} to {PORTFOLIO_SLOTS.max:g} (positions at once), got {value}"
        ]
        return None
    return value


def batch_parse(data: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """The fields every batch (a run, a sweep) takes besides its parameters, checked, errors collected:
    strategy, window, fee_pct, fill, stop_mode, slippage_pct, interval, symbols."""
    strategy = strategy_parse(data.get("strategy_id"), errors)
    window = window_parse(data.get("start_date"), data.get("end_date"), errors)
    fee = fee_parse(data.get("fee_pct"), errors)
    fill = option_parse(data.get("fill"), errors, spec=FILL)
    stop_mode = option_parse(data.get("stop_mode"), errors, spec=STOP_MODE)
    slippage = percent_parse(data.get("slippage_pct"), errors, spec=SLIPPAGE_PCT)
    interval = interval_parse(data.get("interval"), errors)
    symbols = symbols_parse(data.get("symbols"), errors)
    if "symbols" not in errors:
        symbols_check(symbols, errors)
    return {
        "strategy": strategy,
        "window": window,
        "fee_pct": fee,
        "fill": fill,
        "stop_mode": stop_mode,
        "slippage_pct": slippage,
        "interval": interval,
        "symbols": symbols,
    }


# --- Shapes for the schema (/api/schema/): the views build their bodies with the functions below ---


class BodySerializer(serializers.Serializer):
    """A JSON object body checked in one pass: every bad field collected into one 400
    ({field: [messages]}), a body that is not an object (null, a list) refused like the rest, and
    (with `unknown_rule`) a misspelt field named rather than silently ignored. Subclasses declare
    their fields for the schema and parse in `body_parse(data, errors)`, which adds to `errors` and
    returns the typed arguments (dropped when any error was collected), never raising on bad input."""

    unknown_rule: str | None = "unknown field; the fields are {fields}"

    def run_validation(self, data: Any = serializers.empty) -> dict[str, Any]:
        # The whole validation is to_internal_value's.
        return self.to_internal_value(data)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["The body must be a JSON object"]})
        errors: dict[str, list[str]] = {}
        if self.unknown_rule:
            for name in data:
                if name not in self.fields:
                    errors[str(name)[:100]] = [self.unknown_rule.format(fields=", ".join(self.fields))]
        value = self.body_parse(data, errors)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def body_parse(self, data: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
        raise NotImplementedError


class RunRequestSerializer(BodySerializer):
    """The body of POST /api/runs/ and of the original POST /api/crypto/backtest/stream: one
    validation for both. Every field is checked and every error collected (the original's 400
    names each bad field); `validated_data` holds run_create's typed keyword arguments:
    strategy, parameters (resolved, defaults filled in), window, fee_pct, interval, symbols."""

    strategy_id = serializers.IntegerField(help_text="id of an active strategy")
    parameters = serializers.DictField(
        required=False, help_text="parameter name -> value; missing ones take their defaults"
    )
    start_date = serializers.CharField(
        required=False, allow_null=True, help_text="YYYY-MM-DD (or an ISO datetime), inclusive"
    )
    end_date = serializers.CharField(
        required=False, allow_null=True, help_text="YYYY-MM-DD (the whole day) or an ISO datetime, inclusive"
    )
    fee_pct = serializers.FloatField(
        required=False, help_text=f"fee per fill in percent, {FEE_PCT.min:g}..{FEE_PCT.max:g} (default 0)"
    )
    fill = serializers.ChoiceField(
        choices=FILL.options, required=False, help_text="close: at the signal bar's close (default); next_open"
    )
    stop_mode = serializers.ChoiceField(
        choices=STOP_MODE.options, required=False, help_text="close: stop checked on closes (default); intrabar"
    )
    slippage_pct = serializers.FloatField(
        required=False,
        help_text=f"every fill moves against the trader, {SLIPPAGE_PCT.min:g}..{SLIPPAGE_PCT.max:g} % (default 0)",
    )
    interval = serializers.ChoiceField(choices=INTERVALS, required=False, help_text="bar interval, default 1h")
    portfolio_slots = serializers.IntegerField(
        required=False, allow_null=True, help_text="the account's positions at once, 1..1000 (default: every coin)"
    )
    symbols = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="coin subset; empty = every active coin"
    )
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=RUN_NAME_MAX, help_text="the run's name (optional, editable later)"
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=RUN_NOTE_MAX,
        help_text="a note on the run (optional, editable)",
    )

    def body_parse(self, data: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
        batch = batch_parse(data, errors)
        strategy = batch["strategy"]
        parameters = parameters_parse(strategy, data.get("parameters"), errors) if strategy else {}
        slots = slots_parse(data.get("portfolio_slots"), errors)
        name = text_parse(data.get("name"), errors, field="name", max_length=RUN_NAME_MAX)
        note = text_parse(data.get("note"), errors, field="note", max_length=RUN_NOTE_MAX)
        return {**batch, "parameters": parameters, "portfolio_slots": slots, "name": name or "", "note": note or ""}


class RunUpdateSerializer(BodySerializer):
    """The body of PATCH /api/runs/<id>/: a new name, a new note, or both (the rest of a run is what it ran with)."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=RUN_NAME_MAX)
    note = serializers.CharField(required=False, allow_blank=True, max_length=RUN_NOTE_MAX)

    unknown_rule = "unknown field, or one that cannot change; the fields are {fields}"

    def body_parse(self, data: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
        name = text_parse(data.get("name"), errors, field="name", max_length=RUN_NAME_MAX)
        note = text_parse(data.get("note"), errors, field="note", max_length=RUN_NOTE_MAX)
        if not errors and name is None and note is None:
            errors["non_field_errors"] = ["give a name, a note or both"]
        return {"name": name, "note": note}


class FillPresetSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()


def _iso_moment(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def window_warnings(run: BacktestRun, first: dt.datetime | None, last: dt.datetime | None) -> dict[str, list[str]]:
    """A start date before the first bar used, an end date after the last: said, naming the field.

    Not a refusal: coins start and stop trading at different times, and the original endpoint
    accepted any dates; the run uses the bars there are and is labelled with them.
    """
    warnings: dict[str, list[str]] = {}
    bar = dt.timedelta(minutes=INTERVAL_MINUTES.get(run.interval, 60))  # a bar's time is its open
    if first is not None and run.window_start is not None and first - run.window_start >= bar:
        warnings["start_date"] = [
            f"{run.start_date} is before the data: the first bar used is {_shown(first)}, and the run starts there"
        ]
    if last is not None and run.window_end is not None and run.window_end - last > bar and run.is_finished:
        warnings["end_date"] = [
            f"{run.end_date} is after the data: the last bar used is {_shown(last)}, and the run ends there"
        ]
    return warnings


class RunCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    url = serializers.CharField()
    events_url = serializers.CharField()
    page_url = serializers.CharField()
    total = serializers.IntegerField()
    cancel_token = serializers.CharField(
        allow_null=True,
        help_text="anonymous creators only (null when signed in or with an API token): send it in the "
        "X-Cancel-Token header to cancel, rename or delete the run; shown once, stored only as a hash",
    )


class ValidationErrorsSerializer(serializers.Serializer):
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RunStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class StrategyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()


def _metric_field(name: str) -> serializers.Field:
    if name in INTEGER_METRICS:
        return serializers.IntegerField(allow_null=True)
    return serializers.FloatField(allow_null=True)


# Every metric, rounded to 2 decimals (runs.events.round_metric); the fields come from METRIC_FIELDS.
MetricsSerializer = type(
    "MetricsSerializer", (serializers.Serializer,), {name: _metric_field(name) for name in METRIC_FIELDS}
)


class ResultRowSerializer(MetricsSerializer):
    crypto_symbol = serializers.CharField()
    crypto_name = serializers.CharField()
    is_demo = serializers.BooleanField()
    state = serializers.ChoiceField(choices=RunResult.State.choices)
    success = serializers.BooleanField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class TradeSerializer(serializers.Serializer):
    entry_time = serializers.CharField()
    entry_price = serializers.FloatField()
    exit_time = serializers.CharField()
    exit_price = serializers.FloatField()
    return_pct = serializers.FloatField()
    reason = serializers.CharField()


class EquitySerializer(serializers.Serializer):
    times = serializers.ListField(child=serializers.CharField())
    values = serializers.ListField(child=serializers.FloatField())
    buy_hold = serializers.ListField(child=serializers.FloatField())


class ResultDetailSerializer(serializers.Serializer):
    crypto_symbol = serializers.CharField()
    crypto_name = serializers.CharField()
    is_demo = serializers.BooleanField()
    state = serializers.ChoiceField(choices=RunResult.State.choices)
    success = serializers.BooleanField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    bars = serializers.IntegerField(allow_null=True)
    metrics = MetricsSerializer(allow_null=True)
    trades = TradeSerializer(many=True)
    equity = EquitySerializer()


class RunSerializer(serializers.ModelSerializer):
    strategy = serializers.SerializerMethodField()
    start_date = serializers.SerializerMethodField()
    end_date = serializers.SerializerMethodField()
    elapsed_time = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    fill_preset = serializers.SerializerMethodField()
    fills_text = serializers.SerializerMethodField()
    coin_symbols = serializers.SerializerMethodField()
    first_bar = serializers.SerializerMethodField()
    last_bar = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "name",
            "note",
            "strategy",
            "parameters",
            "rules",
            "start_date",
            "end_date",
            "interval",
            "fee_pct",
            "fill",
            "stop_mode",
            "slippage_pct",
            "portfolio_slots",
            "symbols",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "elapsed_time",
            "total",
            "completed",
            "successful",
            "failed",
            "summary",
            "fill_preset",
            "fills_text",
            "coin_symbols",
            "first_bar",
            "last_bar",
            "warnings",
            "url",
            "events_url",
            "page_url",
        ]

    @extend_schema_field(StrategyRefSerializer)
    def get_strategy(self, run: BacktestRun) -> dict[str, Any]:
        return {"id": run.strategy_id, "key": run.strategy.key, "name": run.strategy.name}

    def get_start_date(self, run: BacktestRun) -> str | None:
        return run.start_date or None

    def get_end_date(self, run: BacktestRun) -> str | None:
        return run.end_date or None

    def get_elapsed_time(self, run: BacktestRun) -> float | None:
        return None if run.elapsed_time is None else round(run.elapsed_time, 2)

    def get_url(self, run: BacktestRun) -> str:
        return run_links(run.id)["url"]

    def get_events_url(self, run: BacktestRun) -> str:
        return run_links(run.id)["events_url"]

    def get_page_url(self, run: BacktestRun) -> str:
        return run_links(run.id)["page_url"]

    @extend_schema_field(FillPresetSerializer)
    def get_fill_preset(self, run: BacktestRun) -> dict[str, str]:
        preset = fill_preset(run.fill, run.stop_mode, run.slippage_pct)
        return {"key": preset["key"], "label": preset["label"]}

    def get_fills_text(self, run: BacktestRun) -> str:
        """How the fills were simulated, in words (runs.models.fills_text)."""
        return fills_text(run.fill, run.stop_mode, run.slippage_pct, run.fee_pct)

    def _rows(self, run: BacktestRun) -> list[RunResult]:
        rows = self.context.get("results")
        return list(rows) if rows is not None else list(run.results.all())  # prefetched by the list

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_coin_symbols(self, run: BacktestRun) -> list[str]:
        """The symbols of the run's coins (those it ran on, not only those it was asked for)."""
        return sorted(r.crypto_symbol for r in self._rows(run))

    def _bars(self, run: BacktestRun) -> tuple[dt.datetime | None, dt.datetime | None]:
        if run.first_bar is not None or "results" not in self.context:
            return run.first_bar, run.last_bar
        firsts = [r.first_bar for r in self.context["results"] if r.first_bar is not None]
        lasts = [r.last_bar for r in self.context["results"] if r.last_bar is not None]
        return (min(firsts) if firsts else None), (max(lasts) if lasts else None)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_first_bar(self, run: BacktestRun) -> str | None:
        first = self._bars(run)[0]
        return None if first is None else _iso_moment(first)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_bar(self, run: BacktestRun) -> str | None:
        last = self._bars(run)[1]
        return None if last is None else _iso_moment(last)

    @extend_schema_field(serializers.DictField(child=serializers.ListField(child=serializers.CharField())))
    def get_warnings(self, run: BacktestRun) -> dict[str, list[str]]:
        """Typed dates outside the bars the run used, by field: the run ran on the bars there were."""
        return window_warnings(run, *self._bars(run))


def _result_head(result: RunResult) -> dict[str, Any]:
    """Which coin a result is, and whether it succeeded."""
    return {
        "crypto_symbol": result.crypto_symbol,
        "crypto_name": result.crypto_name,
        "is_demo": result.is_demo,
        "state": result.state,
        "success": result.success,
        "error": result.error or None,
    }


def result_row(result: RunResult) -> dict[str, Any]:
    """One coin of a run: who, whether it succeeded, its rounded metrics (null until done)."""
    return {**_result_head(result), **rounded_metrics(result.metrics)}


class RunDetailSerializer(RunSerializer):
    results = serializers.SerializerMethodField()
    portfolio = serializers.SerializerMethodField()
    controllable = serializers.SerializerMethodField(
        help_text="whether this request may cancel, rename and delete the run (its owner or staff)"
    )

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "results", "portfolio", "controllable"]

    def get_controllable(self, run: BacktestRun) -> bool:
        return access.may_control(self.context["request"], run)

    @extend_schema_field(ResultRowSerializer(many=True))
    def get_results(self, run: BacktestRun) -> list[dict[str, Any]]:
        return [result_row(r) for r in self.context["results"]]

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_portfolio(self, run: BacktestRun) -> dict[str, Any] | None:
        portfolio = getattr(run, "portfolio", None)
        return None if portfolio is None else portfolio_detail(portfolio, trades=False)


# Counts: the coins traded in isolation add up to these; every other metric is a mean of the coins.
ISOLATED_SUMS = frozenset({"total_trades", "profitable_trades", "losing_trades", "stop_loss_exits"})


def isolated_of(run_id: Any) -> dict[str, Any]:
    """The run's coins each traded alone on an equal share (1/N) of the capital, beside the shared
    account: `total_return` is that split's return (the mean of the coins'), counts are sums, the
    other metrics the mean over the coins that have one; `contributions` is each coin's return / N
    (% of the starting capital, as the account's contributions are)."""
    done = RunResult.objects.filter(run_id=run_id, state=RunResult.State.DONE)
    aggregates = {name: (Sum if name in ISOLATED_SUMS else Avg)(name) for name in METRIC_FIELDS}
    values = done.aggregate(coins=Count("id"), **aggregates)
    n = values.pop("coins")
    returns = dict(done.values_list("crypto_symbol", "total_return")) if n else {}
    return {
        "coins": n,
        "metrics": {
            name: (None if value is None else int(value) if name in ISOLATED_SUMS else round_metric("", value))
            for name, value in values.items()
        },
        "contributions": {s: round(r / n, 2) for s, r in sorted(returns.items()) if r is not None},
    }


def portfolio_detail(portfolio, *, trades: bool) -> dict[str, Any]:
    """A run's account: slots, rounded metrics, each coin's contribution (% of the starting capital),
    the same coins traded in isolation (isolated_of), the equity with the equal-weight buy-and-hold
    (and, with trades=True, every trade)."""
    curve = equity_unpack(portfolio.equity)
    body = {
        "slots": portfolio.slots,
        "coins": portfolio.coins,
        "error": portfolio.error or None,
        "metrics": {name: round_metric(name, value) for name, value in portfolio.metrics.items()},
        "contributions": {s: round(v * 100, 2) for s, v in sorted(portfolio.contributions.items())},
        "isolated": isolated_of(portfolio.run_id),
        "equity": {
            "times": [_iso_seconds(t) for t in curve.times.tolist()],
            "values": curve.values.tolist(),
            "buy_hold": curve.buy_hold.tolist(),
        },
    }
    if trades:
        body["trades"] = portfolio.trades
    return body


def _iso_seconds(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_detail(result: RunResult) -> dict[str, Any]:
    """One coin's stored result: metrics, trades and the equity curve with buy-and-hold."""
    curve = equity_unpack(result.equity)
    return {
        **_result_head(result),
        "bars": result.bars,
        "metrics": rounded_metrics(result.metrics) if result.state == RunResult.State.DONE else None,
        "trades": result.trades or [],
        "equity": {
            "times": [_iso_seconds(t) for t in curve.times.tolist()],
            "values": curve.values.tolist(),
            "buy_hold": curve.buy_hold.tolist(),
        },
    }
