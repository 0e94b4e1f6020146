"""Test-tuning settings (README "Configuration"): `TELEGRAM_CHAT_INTERVAL_S` and `SWEEP_INTERVAL_S`.

Left unset they keep Telegram's one message a second per chat and the sweep every 5 s; test
harnesses shorten them against the emulators.
"""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config
from notifications.pacing import TelegramPacer
from tests.unit.test_pacing import Clock, turns


def test_unset_they_keep_telegrams_limit_and_the_five_second_sweep() -> None:
    config = load_config(_env_file=None)
    assert config.telegram_chat_interval_s == 1.0
    assert config.sweep_interval_s == 5.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TELEGRAM_CHAT_INTERVAL_S", "-1"),
        ("TELEGRAM_CHAT_INTERVAL_S", "soon"),
        ("SWEEP_INTERVAL_S", "0"),
        ("SWEEP_INTERVAL_S", "100000"),
    ],
)
def test_a_malformed_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(_env_file=None, **{variable: value})
    assert str(refused.value).startswith(f"{variable}:")


async def test_a_shorter_chat_interval_lets_one_chat_have_messages_sooner() -> None:
    clock = Clock()
    interval = load_config(_env_file=None, TELEGRAM_CHAT_INTERVAL_S="0.25").telegram_chat_interval_s
    pacer = TelegramPacer(chat_interval=interval, clock=clock, sleep=clock.sleep)
    assert await turns(pacer, clock, [7, 7, 8, 7]) == [0.0, 0.25, 0.25, 0.5]
