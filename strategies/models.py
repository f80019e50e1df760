"""Strategies and their admin-editable parameter definitions (`crypto_strategies`, `crypto_strategy_parameters`)."""

from __future__ import annotations

from django.db import models


class StrategyQuerySet(models.QuerySet):
    def active(self) -> StrategyQuerySet:
        return self.filter(is_active=True)


class Strategy(models.Model):
    class Kind(models.TextChoices):
        BUILTIN = "builtin", "Built in (one of the six)"
        RULES = "rules", "Rules written here"

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Names the engine implementation in strategies.engine (rsi, ma_crossover, ...); for a rule
    # strategy "rules-<id>", set when it is first saved.
    key = models.CharField(max_length=50, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.BUILTIN)
    # A rule strategy's entry and exit (spec/RULES.md); empty for a built-in.
    entry_rule = models.TextField(blank=True, default="")
    exit_rule = models.TextField(blank=True, default="")

    objects = StrategyQuerySet.as_manager()

    class Meta:
        db_table = "crypto_strategies"
        ordering = ["id"]
        verbose_name_plural = "strategies"

    def __str__(self) -> str:
        return self.name

    @property
    def is_rules(self) -> bool:
        return self.kind == self.Kind.RULES


class StrategyParameter(models.Model):
    class Type(models.TextChoices):
        NUMBER = "number", "Number"
        INTEGER = "integer", "Integer"
        BOOLEAN = "boolean", "Boolean"
        SELECT = "select", "Select"

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="parameters")
    parameter_name = models.CharField(max_length=100)
    display_name = models.CharField(max_length=100, blank=True, default="")
    parameter_type = models.CharField(max_length=20, choices=Type.choices, default=Type.NUMBER)
    default_value = models.TextField(blank=True, default="")
    min_value = models.DecimalField(max_digits=30, decimal_places=10, null=True, blank=True)
    max_value = models.DecimalField(max_digits=30, decimal_places=10, null=True, blank=True)
    options = models.TextField(
        blank=True, default="", help_text='JSON list of choices for "select", e.g. ["sma", "wilder"]'
    )
    display_order = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "crypto_strategy_parameters"
        ordering = ["strategy_id", "display_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "parameter_name"], name="strategy_parameter_name_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.strategy_id}:{self.parameter_name}"
