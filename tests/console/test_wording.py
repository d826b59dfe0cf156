"""The owner's words: relative dates, sizes and failure reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.wording import day_label, human_size, list_time, reason_text


def _utc_naive(local: datetime) -> datetime:
    # The engine stores naive UTC; wording shows local time.
    return local.astimezone(UTC).replace(tzinfo=None)


def test_relative_days_in_the_list_and_in_the_conversation() -> None:
    now = datetime(2026, 11, 26, 15, 0).astimezone()
    cases = [
        (now - timedelta(hours=1), now.replace(hour=14).strftime("%H:%M"), "Today"),
        (now - timedelta(days=1), "Yesterday", "Yesterday"),
        (now - timedelta(days=3), (now - timedelta(days=3)).strftime("%A"), (now - timedelta(days=3)).strftime("%A")),
        (now - timedelta(days=30), (now - timedelta(days=30)).strftime("%d/%m/%Y"),
         (now - timedelta(days=30)).strftime("%d %B %Y")),
    ]
    for local, in_list, in_chat in cases:
        assert list_time(_utc_naive(local), now) == in_list
        assert day_label(_utc_naive(local), now) == in_chat
    assert list_time(None) == "" == day_label(None)


def test_sizes_and_reasons_read_as_plain_words() -> None:
    assert human_size(7_400) == "7.2 KB" and human_size(512) == "512 B"
    assert "large" in reason_text("too_large").lower()
    assert reason_text(None, "x" * 200).endswith("…") and reason_text(None) == "The download failed"


def test_phone_numbers_are_written_internationally_grouped_as_their_country_does() -> None:
    from console.wording import phone

    assert phone("212612345678") == "+212 6 12 34 56 78"  # a Moroccan mobile: the region comes from the number
    assert phone("33612345678") == "+33 6 12 34 56 78"
    assert phone("15550109999") == "+1 555-010-9999"
    assert phone("447911123456") == "+44 7911 123456"
    assert phone("+39 02 1234 5678") == "+39 02 1234 5678"
    assert phone("999") == "+999"  # not a possible number: left as digits, not dressed up
    assert phone("") == "" and phone("unknown") == "unknown"
