"""Strategy rules that need the admin's definitions: checking an edited definition, resolving a run's parameters.

For a built-in, the engine's registry (strategies.engine) is the source of truth for what
a parameter can be; the admin may only narrow it: pick other defaults, a narrower min..max,
fewer select options, switch a parameter off, rename it for display. A rule strategy's
definitions are its own (spec/RULES.md): the admin writes them with the rules.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from .engine import STRATEGIES, InvalidParameters, ParamSpec, parameters_resolve, strategy_spec
from .engine.registry import STOP_LOSS, coerce_value
from .engine.rules import RulesInvalid, RuleStrategy, compile_rules
from .models import Strategy, StrategyParameter
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


def strategy_defaults_validate(
    *, strategy_key: str, defaults: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> None:
    """Check the active definitions' defaults together (cross-field rules such as fast < slow).

    Raises InvalidParameters naming the parameter whose default breaks a rule (the other one by its
    display name: `labels`, as the admin's form has them, else the engine's).
    """
    spec = strategy_spec(strategy_key)
    parameters_resolve(strategy_key, {k: v for k, v in defaults.items() if spec.param(k) is not None}, labels=labels)


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

    A rule strategy: its active definitions are its parameters (unknown names refused,
    each value's type and min..max checked, defaults filled in). A built-in:

    1. Only parameters with an active admin definition may be given; any other name
       (unknown, or switched off in the admin) is refused as unknown.
    2. Each given value is checked by the engine (type, engine range) and against the
       admin's narrower min..max or options.
    3. A parameter not given takes the admin's default (which overrides the engine's);
       one without an active definition takes the engine's default.
    4. The engine's parameters_resolve checks everything again, with the cross-field rules.

    Raises strategies.engine.InvalidParameters(parameter, rule) on any problem.
    """
    if strategy.is_rules:
        try:
            return strategy_engine_get(strategy=strategy).parameters_resolve(params)
        except OverflowError:  # a JSON integer too large for a float
            raise InvalidParameters(_overflowing(params), "must be a finite number") from None
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
    labels = {name: d.display_name for name, d in definitions.items() if d.display_name}
    return parameters_resolve(strategy.key, merged, labels=labels)


def strategy_keys() -> Iterable[str]:
    """The engine keys a Strategy row may name."""
    return STRATEGIES.keys()


def _overflowing(params: Mapping[str, Any] | None) -> str:
    return next((k for k, v in (params or {}).items() if isinstance(v, int) and abs(v) > 2**1023), "parameters")


# --- rule strategies (spec/RULES.md) --------------------------------------------------------


def definition_spec(definition: ParameterDefinition) -> ParamSpec:
    """A rule strategy's parameter definition as the engine's ParamSpec."""
    return ParamSpec(
        name=definition.name,
        type=definition.type,
        default=definition.default,
        display_name=definition.display_name,
        min=definition.min,
        max=definition.max,
        options=tuple(definition.options or ()),
    )


def strategy_engine_get(*, strategy: Strategy) -> str | RuleStrategy:
    """What the engine runs for this row: a built-in's key, or the rule strategy compiled from
    its rules and active parameter definitions (backtest_arrays takes either).

    Raises RulesInvalid if stored rules no longer check (the admin refuses such edits).
    """
    if not strategy.is_rules:
        return strategy.key
    specs = [definition_spec(d) for d in strategy_parameter_definitions(strategy=strategy)]
    return compile_rules(entry_rule=strategy.entry_rule, exit_rule=strategy.exit_rule, params=specs, key=strategy.key)


def _definition_json(definition: ParameterDefinition) -> dict[str, Any]:
    """A parameter definition as the snapshot and the export write it."""
    d = definition
    return {
        "name": d.name,
        "display_name": d.display_name,
        "type": d.type,
        "default": d.default,
        "min": d.min,
        "max": d.max,
        "options": d.options,
    }


def strategy_rules_snapshot(*, strategy: Strategy) -> dict[str, Any] | None:
    """What a run stores to stay reproducible after the rules are edited: the key, both rules
    and the active definitions (JSON-ready). None for a built-in."""
    if not strategy.is_rules:
        return None
    return {
        "key": strategy.key,
        "entry_rule": strategy.entry_rule,
        "exit_rule": strategy.exit_rule,
        "parameters": [_definition_json(d) for d in strategy_parameter_definitions(strategy=strategy)],
    }


def rules_from_snapshot(snapshot: Mapping[str, Any]) -> RuleStrategy:
    """The rule strategy a stored snapshot (strategy_rules_snapshot) ran with; raises RulesInvalid."""
    specs = [
        ParamSpec(p["name"], p["type"], p["default"], p["display_name"], p["min"], p["max"], tuple(p["options"] or ()))
        for p in snapshot["parameters"]
    ]
    return compile_rules(
        entry_rule=snapshot["entry_rule"], exit_rule=snapshot["exit_rule"], params=specs, key=snapshot["key"]
    )


def rule_parameter_validate(
    *,
    parameter_name: str,
    parameter_type: str,
    default_value: str,
    min_value: Decimal | None,
    max_value: Decimal | None,
    options: str,
) -> Any:
    """Check one parameter definition of a rule strategy; return its typed default.

    Raises ValidationError with a message per field: a name that is not an identifier,
    options on a non-select (or a select without them), min > max, a range on a boolean or
    select, a default of the wrong type, outside min..max or not among the options.
    """
    errors: dict[str, str] = {}
    if not parameter_name.isidentifier():
        errors["parameter_name"] = f"{parameter_name!r} is not a name a rule can use (letters, digits, _)"
    if parameter_type not in StrategyParameter.Type.values:
        errors["parameter_type"] = f"one of {StrategyParameter.Type.values}"
    try:
        choices = parse_options(options)
    except ValueError as exc:
        errors["options"] = str(exc)
        choices = None
    if parameter_type == "select" and not choices and "options" not in errors:
        errors["options"] = 'a select parameter needs its options, e.g. ["a", "b"]'
    elif parameter_type != "select" and choices is not None:
        errors["options"] = "only select parameters have options; leave this empty"
    if parameter_type in ("number", "integer"):
        if min_value is not None and max_value is not None and min_value > max_value:
            errors["min_value"] = f"min ({_fmt(min_value)}) is greater than max ({_fmt(max_value)})"
    else:
        for field, value in (("min_value", min_value), ("max_value", max_value)):
            if value is not None:
                errors[field] = (
                    f"only number and integer parameters have a range; leave this empty for {parameter_type}"
                )
    default = None
    try:
        default = parse_default(default_value, parameter_type)
    except ValueError as exc:
        errors["default_value"] = str(exc)
    else:
        if parameter_type == "select" and choices and default not in choices:
            errors["default_value"] = f"{default!r} is not one of the options {choices}"
        elif parameter_type in ("number", "integer") and (
            (min_value is not None and default < min_value) or (max_value is not None and default > max_value)
        ):
            low = "-inf" if min_value is None else _fmt(min_value)
            high = "inf" if max_value is None else _fmt(max_value)
            errors["default_value"] = f"default {default:g} is outside min..max ({low}..{high})"
    if errors:
        raise ValidationError(errors)
    return default


def strategy_rules_check(*, entry_rule: str, exit_rule: str, parameters: Sequence[ParamSpec]) -> RuleStrategy:
    """Check a rule strategy's rules against its (active) parameter definitions.

    Returns the compiled strategy (its `summary()` says what was understood); raises
    RulesInvalid with each rule's refusal (line, column, reason)."""
    return compile_rules(entry_rule=entry_rule, exit_rule=exit_rule, params=parameters, key="rules-check")


def rules_error_text(error: Any, text: str) -> str:
    """A refusal as plain text: the reason, then the rule's line with a caret under the column."""
    return f"line {error.line}, column {error.column}: {error.message}\n{error.caret(text)}"


def strategy_rules_key() -> str:
    """A new rule strategy's engine key (unique; the row's id is not known before it is saved)."""
    return f"rules-{uuid.uuid4().hex[:12]}"


# --- export and import (the format of README.md, "A strategy as a file") ---------------------

EXPORT_FIELDS = ("name", "description", "active", "entry_rule", "exit_rule", "parameters")
PARAMETER_FIELDS = ("name", "display_name", "type", "default", "min", "max", "options", "order")


def strategy_export(*, strategy: Strategy) -> dict[str, Any]:
    """One rule strategy with its rules and parameter definitions (active ones), as JSON data."""
    if not strategy.is_rules:
        raise ValueError(f"strategy {strategy.id} is a built-in ({strategy.key}); only rule strategies are exported")
    return {
        "name": strategy.name,
        "description": strategy.description,
        "active": strategy.is_active,
        "entry_rule": strategy.entry_rule,
        "exit_rule": strategy.exit_rule,
        "parameters": [
            _definition_json(d) | {"order": d.order} for d in strategy_parameter_definitions(strategy=strategy)
        ],
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decimal(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError({field: "must be a number or null"})
    return Decimal(str(value))


def strategy_import(*, data: Any, replace: bool = False) -> Strategy:
    """Create (or with `replace`, overwrite) a rule strategy from exported JSON data.

    Steps: 1. the shape (an object with the format's fields, parameters a list of objects);
    2. each parameter definition as the admin checks it; 3. the rules against them;
    4. the name: one that exists is refused unless `replace`; 5. write, in one transaction.
    Raises ValidationError naming the field (parameters[i].field for a definition); nothing
    is written then.
    """
    if not isinstance(data, dict):
        raise ValidationError({"file": "must hold a JSON object"})
    unknown = sorted(set(data) - set(EXPORT_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: f"unknown field; the fields are {', '.join(EXPORT_FIELDS)}"})
    for field in ("name", "entry_rule", "exit_rule"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise ValidationError({field: "required, a non-empty string"})
    if len(data["name"]) > Strategy._meta.get_field("name").max_length:
        raise ValidationError({"name": "at most 100 characters"})
    if not isinstance(data.get("description", ""), str):
        raise ValidationError({"description": "must be a string"})
    if not isinstance(data.get("active", True), bool):
        raise ValidationError({"active": "must be true or false"})
    parameters = data.get("parameters", [])
    if not isinstance(parameters, list):
        raise ValidationError({"parameters": "must be a list"})
    rows, specs = [], []
    for i, item in enumerate(parameters):
        where = f"parameters[{i}]"
        if not isinstance(item, dict):
            raise ValidationError({where: "must be an object"})
        if extra := sorted(set(item) - set(PARAMETER_FIELDS)):
            raise ValidationError(
                {f"{where}.{extra[0]}": f"unknown field; the fields are {', '.join(PARAMETER_FIELDS)}"}
            )
        if not isinstance(item.get("name"), str):
            raise ValidationError({f"{where}.name": "required, a string"})
        if not isinstance(item.get("order", 0), int) or isinstance(item.get("order", 0), bool):
            raise ValidationError({f"{where}.order": "must be an integer"})
        if item.get("options") is not None and not isinstance(item["options"], list):
            raise ValidationError({f"{where}.options": "must be a list or null"})
        fields = {
            "parameter_name": item["name"],
            "parameter_type": _text(item.get("type", "number")),
            "default_value": _text(item.get("default")),
            "min_value": _decimal(item.get("min"), f"{where}.min"),
            "max_value": _decimal(item.get("max"), f"{where}.max"),
            "options": "" if item.get("options") is None else json.dumps(item["options"]),
        }
        try:
            default = rule_parameter_validate(**fields)
        except ValidationError as exc:
            raise ValidationError(
                {f"{where}.{_FILE_NAMES.get(k, k)}": v for k, v in exc.message_dict.items()}
            ) from None
        rows.append(
            {
                **fields,
                "display_name": _text(item.get("display_name")) or item["name"],
                "display_order": item.get("order", i + 1),
            }
        )
        specs.append(
            ParamSpec(
                item["name"],
                fields["parameter_type"],
                default,
                item["name"],
                None if fields["min_value"] is None else float(fields["min_value"]),
                None if fields["max_value"] is None else float(fields["max_value"]),
                tuple(item.get("options") or ()),
            )
        )
    if not any(s.name == STOP_LOSS.name for s in specs):
        rows.append(_stop_loss_row(len(rows) + 1))
    try:
        strategy_rules_check(entry_rule=data["entry_rule"], exit_rule=data["exit_rule"], parameters=specs)
    except RulesInvalid as exc:
        field, error = next(iter(exc.errors.items()))
        text = data.get(field, "") if field in ("entry_rule", "exit_rule") else ""
        raise ValidationError({field: rules_error_text(error, text) if text else error.message}) from None
    with transaction.atomic():
        existing = Strategy.objects.filter(name=data["name"]).first()
        if existing is not None and not replace:
            raise ValidationError(
                {"name": f"a strategy named {data['name']!r} exists (id {existing.id}); use --replace"}
            )
        if existing is not None and not existing.is_rules:
            raise ValidationError({"name": f"{data['name']!r} is a built-in strategy; it cannot be replaced"})
        strategy = existing or Strategy(key=strategy_rules_key(), kind=Strategy.Kind.RULES)
        strategy.name = data["name"]
        strategy.description = data.get("description", "")
        strategy.is_active = data.get("active", True)
        strategy.entry_rule = data["entry_rule"]
        strategy.exit_rule = data["exit_rule"]
        strategy.save()
        strategy.parameters.all().delete()
        StrategyParameter.objects.bulk_create(StrategyParameter(strategy=strategy, **row) for row in rows)
    return strategy


_FILE_NAMES = {
    "parameter_name": "name",
    "parameter_type": "type",
    "default_value": "default",
    "min_value": "min",
    "max_value": "max",
}


def _stop_loss_row(order: int) -> dict[str, Any]:
    return {
        "parameter_name": STOP_LOSS.name,
        "display_name": STOP_LOSS.display_name,
        "parameter_type": STOP_LOSS.type,
        "default_value": f"{STOP_LOSS.default:g}",
        "min_value": Decimal(str(STOP_LOSS.min)),
        "max_value": Decimal(str(STOP_LOSS.max)),
        "options": "",
        "display_order": order,
    }


def strategy_stop_loss_ensure(*, strategy: Strategy) -> None:
    """A rule strategy has stop_loss_threshold as the built-ins do: its usual definition is
    added when the admin did not define it."""
    if not strategy.parameters.filter(parameter_name=STOP_LOSS.name).exists():
        order = max((p.display_order for p in strategy.parameters.all()), default=0) + 1
        StrategyParameter.objects.create(strategy=strategy, **_stop_loss_row(order))


def strategy_try(*, strategy: Strategy, crypto_id: int, interval: str = "1h") -> Any:
    """Backtest the saved rules with their defaults on one coin's bars (all of them): the
    admin's "Try on one coin". Raises the engine's errors (EngineError) and RulesInvalid."""
    from market_data.selectors import prices_get

    from .engine import backtest_arrays

    prices = prices_get(crypto_id=crypto_id, interval=interval)
    return backtest_arrays(
        strategy_engine_get(strategy=strategy),
        times=prices.times,
        open=prices.open,
        high=prices.high,
        low=prices.low,
        close=prices.close,
        volume=prices.volume,
        interval=interval,
    )


def strategy_parameter_check(*, strategy: Strategy, name: str, value: Any) -> Any:
    """One parameter's value checked alone (type, the engine's range, the admin's narrower one),
    without the cross-field rules, which need the others: a sweep checks each value of its grid
    so, and skips the combinations that break a cross-field rule. Returns the canonical value.

    Raises InvalidParameters naming the parameter and the rule (an unknown or inactive name too).
    """
    definitions = {d.name: d for d in strategy_parameter_definitions(strategy=strategy)}
    if strategy.is_rules:
        engine = definition_spec(definitions[name]) if name in definitions else None
    else:
        engine = strategy_spec(strategy.key).param(name)
    if name not in definitions or engine is None:
        raise InvalidParameters(
            name, f"unknown parameter for strategy {strategy.key!r}; known: {', '.join(definitions)}"
        )
    try:
        checked = coerce_value(engine, value)
    except OverflowError:
        raise InvalidParameters(name, "must be a finite number") from None
    _check_narrowed(definitions[name], checked)
    return checked
