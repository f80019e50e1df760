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
