import pytest

from strategies.models import Strategy


@pytest.mark.django_db
def test_six_strategies_seeded():
    assert list(Strategy.objects.values_list("id", "key")) == [
        (1, "rsi"), (2, "ma_crossover"), (3, "macd"), (4, "stochastic"), (5, "bollinger_bands"), (6, "mean_reversion")
    ]
