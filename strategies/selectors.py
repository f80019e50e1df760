"""Reads of strategies and their admin-edited parameter definitions, in typed form.

The table keeps the original's text columns (`default_value`, `options`); everything
outside this module sees typed values: a number default is a float, an integer default
an int, a boolean a bool, a select's options a list.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Prefetch, QuerySet

from .models import Strategy, StrategyParameter

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class ParameterDefinition:
    name: str
    display_name: str
    type: str
    default: Any
    min: float | int | None
    max: float | int | None
    options: list[str] | None
    order: int
    is_active: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_default(text: str, parameter_type: str) -> Any:
    """A stored default in its type. Raises ValueError saying why it cannot be one."""
    raw = (text or "").strip()
    if raw == "":
        raise ValueError("a default value is required")
    if parameter_type == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"{raw!r} is not a boolean (true or false)")
    if parameter_type == "select":
        return raw
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{raw!r} is not a finite number")
    if parameter_type == "integer":
        if number != number.to_integral_value():
            raise ValueError(f"{raw!r} is not an integer")
        return int(number)
    return float(number)


def parse_options(text: str) -> list[str] | None:
    """The stored options (a JSON list) as a list; None when empty. Raises ValueError if not a JSON list."""
    raw = (text or "").strip()
    if raw == "":
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f'options must be a JSON list, e.g. ["sma", "wilder"]; got {raw!r}') from None
    if not isinstance(value, list):
        raise ValueError(f'options must be a JSON list, e.g. ["sma", "wilder"]; got {raw!r}')
    return value


def _bound(value: Decimal | None, parameter_type: str) -> float | int | None:
    if value is None:
        return None
    if parameter_type == "integer" and value == value.to_integral_value():
        return int(value)
    return float(value)


def parameter_definition(row: StrategyParameter) -> ParameterDefinition:
    """One row in typed form. A stored value that does not parse becomes None (the admin refuses such values)."""
    try:
        default = parse_default(row.default_value, row.parameter_type)
    except ValueError:
        default = None
    try:
        options = parse_options(row.options)
    except ValueError:
        options = None
    return ParameterDefinition(
        name=row.parameter_name,
        display_name=row.display_name or row.parameter_name,
        type=row.parameter_type,
        default=default,
        min=_bound(row.min_value, row.parameter_type),
        max=_bound(row.max_value, row.parameter_type),
        options=options,
        order=row.display_order,
        is_active=row.is_active,
    )


def strategy_list(*, include_inactive: bool = False) -> QuerySet[Strategy]:
    """Strategies by id, with their definitions prefetched as `definitions`.

    Active definitions only, unless include_inactive.
    """
    strategies = Strategy.objects.all() if include_inactive else Strategy.objects.active()
    parameters = (
        StrategyParameter.objects.all() if include_inactive else StrategyParameter.objects.filter(is_active=True)
    )
    return strategies.order_by("id").prefetch_related(
        Prefetch("parameters", queryset=parameters.order_by("display_order", "id"), to_attr="definition_rows")
    )


def strategy_get(*, strategy_id: int, include_inactive: bool = False) -> Strategy:
    """One strategy (raises Strategy.DoesNotExist), with `definition_rows` prefetched."""
    return strategy_list(include_inactive=include_inactive).get(id=strategy_id)


def strategy_parameter_definitions(*, strategy: Strategy, include_inactive: bool = False) -> list[ParameterDefinition]:
    """The strategy's definitions in display order; uses the prefetched rows when there are some."""
    rows = getattr(strategy, "definition_rows", None)
    if rows is None:
        rows = strategy.parameters.order_by("display_order", "id")
        if not include_inactive:
            rows = rows.filter(is_active=True)
    elif not include_inactive:
        rows = [r for r in rows if r.is_active]
    return [parameter_definition(r) for r in rows]
