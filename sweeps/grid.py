"""The cells of a sweep: a grid of parameter values, every combination or a reproducible random
subset, with the combinations that break a cross-field rule skipped and counted. Pure Python."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_CELLS = 100_000
# A range is expanded before the cell limit is checked: refuse absurd ranges first.
MAX_VALUES_PER_PARAMETER = 10_000


class GridError(ValueError):
    """A bad grid: `field` names where (grid.<parameter>, search, ...), the message says the rule."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Axis:
    """One swept parameter and its values, in grid order."""

    name: str
    values: tuple[Any, ...]


def axis_values(name: str, kind: str, spec: Any) -> tuple[Any, ...]:
    """The values of one swept parameter: {"from", "to", "step"} (inclusive) or a list.

    Integer parameters take integer steps; select and boolean parameters take lists only.
    Ranges are computed on decimals, so 0.1 steps give 0.1, 0.2, 0.3 and not 0.30000000000000004.
    """
    field = f"grid.{name}"
    if isinstance(spec, list):
        if not spec:
            raise GridError(field, "must list at least one value")
        values = tuple(spec)
    elif isinstance(spec, Mapping):
        if kind in ("select", "boolean"):
            raise GridError(field, f"a {kind} parameter takes a list of values, not a range")
        if set(spec) != {"from", "to", "step"}:
            raise GridError(field, 'a range is {"from": a, "to": b, "step": s}')
        numbers = []
        for key in ("from", "to", "step"):
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise GridError(field, f"{key} must be a number")
            if kind == "integer" and not float(value).is_integer():
                raise GridError(field, f"{key} must be an integer for an integer parameter")
            numbers.append(Decimal(str(value)))
        start, stop, step = numbers
        if step <= 0:
            raise GridError(field, "step must be positive")
        if stop < start:
            raise GridError(field, f"to must not be below from ({spec['to']} < {spec['from']})")
        count = int((stop - start) / step) + 1
        if count > MAX_VALUES_PER_PARAMETER:
            raise GridError(field, f"gives {count:,} values; at most {MAX_VALUES_PER_PARAMETER:,}")
        cast = int if kind == "integer" else float
        values = tuple(cast(start + k * step) for k in range(count))
    else:
        raise GridError(field, 'must be a list of values or {"from": a, "to": b, "step": s}')
    if len(set(map(repr, values))) != len(values):
        raise GridError(field, "lists a value twice")
    return values


def search_parse(search: Any) -> tuple[str, int | None, int | None]:
    """("grid", None, None) or ("random", N, seed)."""
    if search is None or search == "grid":
        return "grid", None, None
    if isinstance(search, Mapping) and set(search) <= {"random", "seed"} and "random" in search:
        n, seed = search["random"], search.get("seed", 0)
        for key, value in (("random", n), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "random" else 0):
                raise GridError(
                    "search", f"{key} must be a {'positive' if key == 'random' else 'non-negative'} integer"
                )
        return "random", n, seed
    raise GridError("search", 'must be "grid" or {"random": N, "seed": S}')


@dataclass(frozen=True)
class Cells:
    """The cells of a sweep: the swept axes, the parameter sets to run (resolved), their grid
    coordinates (an index into each axis), and how many combinations were skipped."""

    axes: tuple[Axis, ...]
    parameters: list[dict[str, Any]]
    coordinates: list[tuple[int, ...]]
    skipped: int


def cells_build(
    axes: Sequence[Axis],
    *,
    search: tuple[str, int | None, int | None],
    resolve: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> Cells:
    """Every combination (or N distinct ones drawn with the seed) in grid order, resolved by
    `resolve` (None: a cross-field rule is broken, the combination is skipped and counted).

    1. Count the combinations; a grid search over more than MAX_CELLS is refused.
    2. A random search draws N distinct combination numbers (all of them when N is larger),
       reproducibly from the seed, and keeps them in grid order.
    3. Resolve each; the survivors are the cells.
    """
    sizes = [len(a.values) for a in axes]
    total = math.prod(sizes)
    kind, n, seed = search
    if kind == "random":
        picks = sorted(random.Random(seed).sample(range(total), min(n, total)))
    else:
        picks = None
    wanted = total if picks is None else len(picks)
    if wanted > MAX_CELLS:
        raise GridError("grid", f"gives {wanted:,} combinations; at most {MAX_CELLS:,} cells a sweep")
    numbers = range(total) if picks is None else picks
    parameters: list[dict[str, Any]] = []
    coordinates: list[tuple[int, ...]] = []
    skipped = 0
    for number in numbers:
        coordinate = _unravel(number, sizes)
        combo = {axis.name: axis.values[k] for axis, k in zip(axes, coordinate, strict=True)}
        resolved = resolve(combo)
        if resolved is None:
            skipped += 1
            continue
        parameters.append(resolved)
        coordinates.append(coordinate)
    return Cells(tuple(axes), parameters, coordinates, skipped)


def _unravel(number: int, sizes: Sequence[int]) -> tuple[int, ...]:
    """The grid coordinate of combination `number`, the last axis varying fastest (the order of
    itertools.product over the axes)."""
    out = []
    for size in reversed(sizes):
        number, k = divmod(number, size)
        out.append(k)
    return tuple(reversed(out))
