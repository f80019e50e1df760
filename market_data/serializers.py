"""JSON shapes of the coin catalogue and its bars, and the price query's parameters."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import INTERVALS, Cryptocurrency
from .quality import FLAT_RUN_BARS, JUMP_THRESHOLD


class IntervalStatsSerializer(serializers.Serializer):
    interval = serializers.CharField()
    bars = serializers.IntegerField()
    first = serializers.DateTimeField()
    last = serializers.DateTimeField()
    derived_from = serializers.CharField(
        allow_null=True, help_text="the stored interval these bars are aggregated from; null for stored bars"
    )


class CryptocurrencySerializer(serializers.ModelSerializer):
    intervals = IntervalStatsSerializer(source="interval_stats", many=True, read_only=True)

    class Meta:
        model = Cryptocurrency
        fields = ["id", "symbol", "name", "is_active", "is_demo", "intervals"]


class PriceBarSerializer(serializers.Serializer):
    """One bar from a (datetime, open, high, low, close, volume) tuple; prices as JSON numbers."""

    datetime = serializers.DateTimeField()
    open = serializers.FloatField()
    high = serializers.FloatField()
    low = serializers.FloatField()
    close = serializers.FloatField()
    volume = serializers.FloatField(allow_null=True)

    def to_representation(self, bar):
        # Built directly: a page holds up to PRICES_MAX_PAGE_SIZE bars, and field-by-field
        # serialization would cost several times more. Same output as the fields above.
        when, o, h, lo, c, v = bar
        iso = when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return {"datetime": iso, "open": o, "high": h, "low": lo, "close": c, "volume": v}


@extend_schema_field(OpenApiTypes.STR)
class DateOrDateTimeField(serializers.Field):
    """ISO 8601 date or date-time; gives (aware UTC datetime, is_date_only)."""

    default_error_messages = {
        "invalid": "Not a date (YYYY-MM-DD) or ISO 8601 date-time: {value!r}.",
        "range": "Out of range (years 1 to 9999 in UTC): {value!r}.",
    }

    def to_internal_value(self, data):
        text = str(data).strip()
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC), True
            value = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            self.fail("invalid", value=text)
        try:
            value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is in the year 0 in UTC
            self.fail("range", value=text)
        return value, False


class PriceQuerySerializer(serializers.Serializer):
    """?interval=1h&start=2024-01-01&end=2024-01-31: both dates inclusive (an end date covers its whole day)."""

    interval = serializers.ChoiceField(choices=INTERVALS, default="1h")
    start = DateOrDateTimeField(required=False)
    end = DateOrDateTimeField(required=False)

    def validate(self, attrs):
        start = attrs["start"][0] if "start" in attrs else None
        end = None
        if "end" in attrs:
            end, date_only = attrs["end"]
            if date_only:  # the whole day (adding a day would overflow on 9999-12-31)
                end = end.replace(hour=23, minute=59, second=59, microsecond=999_999)
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"end": "end is before start."})
        return {"interval": attrs["interval"], "start": start, "end": end}


class QualityQuerySerializer(PriceQuerySerializer):
    """?interval=1h[&start&end][&flat_run_bars=10][&jump_threshold=0.2]: the report of that window."""

    flat_run_bars = serializers.IntegerField(min_value=2, max_value=100_000, default=FLAT_RUN_BARS)
    jump_threshold = serializers.FloatField(min_value=0.0001, max_value=1000, default=JUMP_THRESHOLD)

    def validate(self, attrs):
        window = super().validate(attrs)
        return {**window, "flat_run_bars": attrs["flat_run_bars"], "jump_threshold": attrs["jump_threshold"]}


class GapSerializer(serializers.Serializer):
    after = serializers.DateTimeField()
    before = serializers.DateTimeField()
    missing = serializers.IntegerField()


class FlatRunSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    bars = serializers.IntegerField()


class JumpSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    to = serializers.FloatField()
    change = serializers.FloatField(help_text="relative close-to-close change, 0.25 is +25 %")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.FloatField()  # a keyword in Python
        return fields


class QualitySerializer(serializers.Serializer):
    """The data-quality report of one coin and interval (see market_data/quality.py)."""

    symbol = serializers.CharField()
    interval = serializers.CharField()
    first = serializers.DateTimeField(allow_null=True)
    last = serializers.DateTimeField(allow_null=True)
    bars = serializers.IntegerField()
    missing_bars = serializers.IntegerField()
    gaps = GapSerializer(many=True)
    zero_volume_bars = serializers.IntegerField()
    flat_runs = FlatRunSerializer(many=True)
    jumps = JumpSerializer(many=True)
