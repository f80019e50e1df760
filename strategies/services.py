"""Strategy rules that need the admin's definitions: checking an edited definition, resolving a run's parameters.

The engine's registry (strategies.engine) is the source of truth for what a parameter
can be; the admin may only narrow it: pick other defaults, a narrower min..max, fewer
select options, switch a parameter off, rename it for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from .engine import STRATEGIES, InvalidParameters, parameters_resolve, strategy_spec
from .engine.registry import coerce_value
from .models import Strategy
from .selectors import ParameterDefinition, parse_default, parse_options, strategy_parameter_definitions


def _fmt(value: float | Decimal) -> str:
    return f"{float(value):g}"


def strategy_parameter_validate(
    *,
    strategy_key: str,
    parameter_name: str,
    parameter_type: str,
    default_value: str,
    min_value: Decimal | None,
    max_value: Decimal | None,
    options: str,
) -> Any:
    """Check one parameter definition against the engine; return its typed default.

    Raises ValidationError with a message per field (the admin shows each on its field):
    a name the engine does not know, a type other than the engine's, options that are
    not a JSON list (or not among the engine's choices), min > max, a range wider than
    the engine's, a default of the wrong type, outside min..max or not among the options.
    """
    spec = STRATEGIES.get(strategy_key)
    if spec is None:
        raise ValidationError({"parameter_name": f"the strategy's engine key {strategy_key!r} is unknown"})
    engine = spec.param(parameter_name)
    if engine is None:
        raise ValidationError(
            {
                "parameter_name": f"the {strategy_key} engine has no parameter {parameter_name!r}; "
                f"it knows: {', '.join(spec.param_names)}"
            }
        )
    if parameter_type != engine.type:
        raise ValidationError({"parameter_type": f"the engine's {parameter_name} is of type {engine.type}"})

    errors: dict[str, str] = {}
    try:
        choices = parse_options(options)
    except ValueError as exc:
        errors["options"] = str(exc)
        choices = None
    if choices is not None and "options" not in errors:
        if engine.type != "select":
            errors["options"] = "only select parameters have options; leave this empty"
        elif not choices:
            errors["options"] = "a select parameter needs at least one option"
        elif unknown := [c for c in choices if c not in engine.options]:
            errors["options"] = f"{unknown} not among the engine's choices {list(engine.options)}"
    if engine.type == "select" and choices is None and "options" not in errors:
        errors["options"] = f"a select parameter needs its options, e.g. {list(engine.options)}"

    if engine.type in ("number", "integer"):
        if min_value is not None and max_value is not None and min_value > max_value:
            errors["min_value"] = f"min ({_fmt(min_value)}) is greater than max ({_fmt(max_value)})"
        if min_value is not None and engine.min is not None and min_value < Decimal(str(engine.min)):
            errors["min_value"] = f"below the engine's minimum {_fmt(engine.min)}"
        if max_value is not None and engine.max is not None and max_value > Decimal(str(engine.max)):
            errors["max_value"] = f"above the engine's maximum {_fmt(engine.max)}"
    else:
        for field, value in (("min_value", min_value), ("max_value", max_value)):
            if value is not None:
                errors[field] = f"only number and integer parameters have a range; leave this empty for {engine.type}"

    default = None
    try:
        default = parse_default(default_value, engine.type)
    except ValueError as exc:
        errors["default_value"] = str(exc)
    else:
        if engine.type == "select" and choices and default not in choices:
            errors["default_value"] = f"{default!r} is not one of the options {choices}"
        elif engine.type in ("number", "integer") and (
            (min_value is not None and default < min_value) or (max_value is not None and default > max_value)
        ):
            low = "-inf" if min_value is None else _fmt(min_value)
            high = "inf" if max_value is None else _fmt(max_value)
            errors["default_value"] = f"default {default:g} is outside min..max ({low}..{high})"
        else:
            try:
                coerce_value(engine, default)
            except InvalidParameters as exc:
                errors["default_value"] = f"the engine refuses this default: {exc.rule}"
    if errors:
        raise ValidationError(errors)
    return default


def strategy_defaults_validate(*, strategy_key: str, defaults: Mapping[str, Any]) -> None:
    """Check the active definitions' defaults together (cross-field rules such as fast < slow).

    Raises InvalidParameters naming the parameter whose default breaks a rule.
    """
    spec = strategy_spec(strategy_key)
    parameters_resolve(strategy_key, {k: v for k, v in defaults.items() if spec.param(k) is not None})


def _check_narrowed(definition: ParameterDefinition, value: Any) -> None:
    if definition.type in ("number", "integer"):
        if definition.min is not None and value < definition.min:
            raise InvalidParameters(definition.name, f"must be >= {definition.min:g}")
        if definition.max is not None and value > definition.max:
            raise InvalidParameters(definition.name, f"must be <= {definition.max:g}")
    elif definition.type == "select" and definition.options and value not in definition.options:
        raise InvalidParameters(definition.name, f"must be one of {definition.options}")


def strategy_parameters_resolve(*, strategy: Strategy, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The full, checked parameter set of one run of `strategy`.

    1. Only parameters with an active admin definition may be given; any other name
       (unknown, or switched off in the admin) is refused as unknown.
    2. Each given value is checked by the engine (type, engine range) and against the
       admin's narrower min..max or options.
    3. A parameter not given takes the admin's default (which overrides the engine's);
       one without an active definition takes the engine's default.
    4. The engine's parameters_resolve checks everything again, with the cross-field rules.

    Raises strategies.engine.InvalidParameters(parameter, rule) on any problem.
    """
    spec = strategy_spec(strategy.key)
    given = dict(params or {})
    definitions = {
        d.name: d for d in strategy_parameter_definitions(strategy=strategy) if spec.param(d.name) is not None
    }
    unknown = sorted(set(given) - set(definitions))
    if unknown:
        raise InvalidParameters(
            unknown[0], f"unknown parameter for strategy {strategy.key!r}; known: {', '.join(definitions)}"
        )
    merged: dict[str, Any] = {}
    for name, definition in definitions.items():
        if name in given:
            try:
                value = coerce_value(spec.param(name), given[name])
            except OverflowError:  # a JSON integer too large for a float, e.g. 10**400
                raise InvalidParameters(name, "must be a finite number") from None
        elif definition.default is not None:
            value = definition.default
        else:
            continue
        _check_narrowed(definition, value)
        merged[name] = value
    return parameters_resolve(strategy.key, merged)


def strategy_keys() -> Iterable[str]:
    """The engine keys a Strategy row may name."""
    return STRATEGIES.keys()


def strategy_parameter_check(*, strategy: Strategy, name: str, value: Any) -> Any:
    """One parameter's value checked alone (type, the engine's range, the admin's narrower one),
    without the cross-field rules, which need the others: a sweep checks each value of its grid
    so, and skips the combinations that break a cross-field rule. Returns the canonical value.

    Raises InvalidParameters naming the parameter and the rule (an unknown or inactive name too).
    """
    spec = strategy_spec(strategy.key)
    definitions = {d.name: d for d in strategy_parameter_definitions(strategy=strategy)}
    if name not in definitions or spec.param(name) is None:
        raise InvalidParameters(
            name, f"unknown parameter for strategy {strategy.key!r}; known: {', '.join(definitions)}"
        )
    try:
        checked = coerce_value(spec.param(name), value)
    except OverflowError:
        raise InvalidParameters(name, "must be a finite number") from None
    _check_narrowed(definitions[name], checked)
    return checked
