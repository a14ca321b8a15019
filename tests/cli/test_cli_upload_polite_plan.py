"""The upload plan of a polite upload (issue 15) counts with the share of the link polite mode uses, as
`estimate --polite` does, and says so beside the time."""

from __future__ import annotations

from tests.cli.test_cli_upload_plan_rate import _time_line, folder  # noqa: F401  (a fixture)


def test_polite_plans_with_the_polite_share_of_the_last_rate(capsys, folder):  # noqa: F811
    line = _time_line(capsys, folder, "--polite")
    assert "at 245 Mbit/s, polite: 91% of the link (last upload rate to this container: 269 Mbit/s)" in line


def test_polite_under_a_lower_cap_is_held_by_the_cap(capsys, folder):  # noqa: F811
    line = _time_line(capsys, folder, "--polite", "--cap-mbps", "4")
    assert "2 min at 4 Mbit/s" in line and "speed cap" in line


def test_polite_hours_are_planned_at_the_polite_share(capsys, folder):  # noqa: F811
    line = _time_line(capsys, folder, "--bwlimit", "polite")
    assert "at 245 Mbit/s, polite: 91% of the link" in line  # 60 MB: the whole job falls in polite hours
