"""Errors the engine raises; the site turns them into HTTP 400 or `error` events."""


class EngineError(Exception):
    """Base of the engine's own errors."""


class InvalidParameters(EngineError, ValueError):
    """A parameter is unknown, of the wrong type, out of range, or breaks a cross-field rule.

    `parameter` names the offending parameter (the first of a cross-field pair) and
    `rule` says which rule it broke, so the API can answer 400 naming both.
    """

    def __init__(self, parameter: str, rule: str) -> None:
        self.parameter = parameter
        self.rule = rule
        super().__init__(f"{parameter}: {rule}")


class InsufficientData(EngineError):
    """Too few bars for the strategy's warm-up (spec: fewer than W + 2 bars)."""

    def __init__(self, bars: int, needed: int) -> None:
        self.bars = bars
        self.needed = needed
        super().__init__(f"Insufficient data for backtest: {bars} bars, need at least {needed}")


class InvalidPriceData(EngineError, ValueError):
    """The price arrays cannot be backtested: NaN, infinite or non-positive values,
    mismatched lengths, or timestamps that do not ascend.

    `bar` is the index of the first offending bar (None when the problem is not one bar,
    e.g. a missing column), so the site's `error` event can point at the bad row.
    """

    def __init__(self, problem: str, bar: int | None = None) -> None:
        self.problem = problem
        self.bar = bar
        where = f" at bar {bar}" if bar is not None else ""
        super().__init__(f"Invalid price data: {problem}{where}")
