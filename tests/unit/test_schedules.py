"""The next ticks a config's schedules give (recorded for mirror_meta.streams), and the views'
idea of a successful run kept equal to status.LANDED."""

from __future__ import annotations

from datetime import UTC, datetime

from syncer import schedules
from syncer.migrate import migrations_dir
from syncer.settings import Config
from syncer.status import LANDED
from syncer.stream_config import Schedule

NOW = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)  # a Sunday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_ticks_of_several_schedules_merge_in_order_and_a_shared_tick_is_one_run() -> None:
    daily = Schedule(cron="0 2 * * *", mode="incremental")
    weekly = Schedule(cron="0 2 * * 0", mode="full")
    hourly = Schedule(cron="0 * * * *", mode="incremental")
    assert schedules.upcoming([daily, weekly], NOW, 3) == [
        (at(1, 2), "incremental"),  # Sunday 02:00: both fire; listed once, the first's mode
        (at(2, 2), "incremental"),
        (at(3, 2), "incremental"),
    ]
    assert schedules.upcoming([weekly, hourly], NOW, 3) == [
        (at(1, 2), "full"),
        (at(1, 3), "incremental"),
        (at(1, 4), "incremental"),
    ]
    assert schedules.upcoming([], NOW) == []
    assert len(schedules.upcoming([hourly], NOW)) == schedules.TICKS


def test_every_configured_stream_is_recorded_with_its_own_schedules() -> None:
    config = Config.model_validate(
        {
            "connections": [
                {
                    "name": "exto",
                    "vendor": "exto",
                    "base_url": "http://127.0.0.1:9/data",
                    "token_env": "T",
                    "rate_limit": 10,
                    "streams": ["master:LOCATION", "users"],
                    "schedules": [{"cron": "0 2 * * *"}],
                    "per_stream": {"users": {"schedules": []}},
                }
            ]
        }
    )
    found = {s.stream: s for s in schedules.configured(config, NOW)}
    assert found["master:LOCATION"].vendor == "exto"
    assert found["master:LOCATION"].schedules == ("0 2 * * * incremental",)
    assert found["master:LOCATION"].upcoming[0] == (at(1, 2), "incremental")
    assert found["users"].schedules == () and found["users"].upcoming == ()


def test_the_views_count_as_successful_the_statuses_of_landed() -> None:
    text = (migrations_dir() / "0013_meta_views.sql").read_text()
    listed = "(" + ", ".join(f"'{s}'" for s in LANDED) + ")"
    assert f"r.status IN {listed}" in text
