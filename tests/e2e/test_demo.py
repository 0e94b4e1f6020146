"""`dispatchbot demo` on a fresh machine: offline, no token, a readable transcript, exit 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_prints_a_dispatch_day_and_exits_zero(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no tokens, no .env
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "job request sent on Telegram to 3" in out  # who was asked
    assert "declined: Too far" in out  # who declined and why
    assert "assigned to Bruno Meyer" in out  # who won
    assert "SMS to customer Maria Weber" in out and "Bruno will do your Plumbing" in out
    assert "Greta Lind: outside_radius" in out and "Jonas Berg: restricted" in out
    assert "not selected" in out and "the owner was alerted" in out
    # A reschedule: the fieldworker is free at the new time and keeps the job.
    assert "keeps the job" in out and "your Plumbing has been moved to Tue 1 Dec 15:00" in out
    # Reschedule Assist: a decline, two proposed times, the customer's "2", the job moved.
    assert "his free times this week" in out
    assert "Hugo can't come for your Electrical" in out and "Reply 1 or 2" in out
    assert "SMS from customer Paul Richter: “2”" in out
    assert "done: your Electrical is now on" in out and "assigned to Hugo Petit" in out
    # The email scene: a request by email through the SMTP sink, accepted through its link.
    assert "job request emailed to Kai Brandt" in out
    assert "Kai presses Accept: “Confirmed: the job is yours.”" in out
    assert "assigned to Kai Brandt" in out
    assert not list(tmp_path.glob("data/*")), "the demo leaves no database behind"
    # Each scene names its own booking, in the order of the day (the email scene was once
    # "11:30 Booking 4", after "12:10 Booking 4").
    scenes = re.findall(r"^== (\d\d:\d\d) Booking (\d+)", out, re.MULTILINE)
    numbers = [int(n) for _, n in scenes]
    assert numbers == sorted(set(numbers)), scenes
    assert [t for t, _ in scenes] == sorted(t for t, _ in scenes), scenes
