"""Istio/protobuf duration strings <-> float seconds."""

from __future__ import annotations

import pytest

from meshcore.model.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("0.5s", 0.5),
        ("100ms", 0.1),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("250us", 0.00025),
        ("1.5h", 5400.0),
        ("2h45m3s", 9903.0),
        ("10ns", 1e-8),
        ("0", 0.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration_returns_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-1s", 'invalid duration "-1s": negative durations are not allowed'),
        ("", 'invalid duration "": empty'),
        ("   ", 'invalid duration "": empty'),
        ("abc", 'invalid duration "abc": expected a number with a unit'),
        ("5", 'invalid duration "5": expected a number with a unit'),
        ("1m30", 'invalid duration "1m30": expected a number with a unit'),
        ("5 s", 'invalid duration "5 s": expected a number with a unit'),
        ("1d", 'invalid duration "1d": expected a number with a unit'),
        (5, 'must be a duration string such as "5s", got 5'),
        (None, 'must be a duration string such as "5s", got None'),
    ],
)
def test_parse_duration_refuses_bad_input_with_reason(value: object, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)  # type: ignore[arg-type]
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (0.5, "500ms"),
        (0.1, "100ms"),
        (90, "1m30s"),
        (3600, "1h"),
        (3660, "1h1m"),
        (0.00025, "250us"),
        (1e-8, "10ns"),
        (1.5, "1.5s"),
        (0, "0s"),
    ],
)
def test_format_duration_gives_shortest_exact_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.0, 0.001, 0.25, 1.0, 7.0, 61.5, 3600.0, 86400.0, 0.000123])
def test_format_then_parse_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("seconds", [-1.0, float("inf"), float("nan")])
def test_format_duration_refuses_negative_or_infinite(seconds: float) -> None:
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        format_duration(seconds)
