"""The overload bench's second-by-second timeline: requests in the second they were planned,
searches apart, and where the server's CPU went between the samples around each second."""

from __future__ import annotations

from bench.load.driver import Result, Sample, timeline_markdown


def test_each_second_shows_its_requests_and_the_cpu_between_its_samples() -> None:
    log = [
        (0.1, 0.010, "ok", "search"),
        (0.5, 0.030, "ok", "detail"),
        (1.2, 0.200, "ok", "search"),
        (1.3, 0.004, "refused", "search"),
        (2.9, 0.050, "ok", "bot"),
    ]
    samples = [
        Sample(0.0, 10.0, 1.0, 5.0, 0.1),
        Sample(1.05, 10.5, 1.0, 5.3, 0.2, 0.0, 0.71),
        Sample(2.1, 11.5, 1.1, 5.8, 3.0),
        Sample(3.0, 12.0, 1.1, 6.0, 0.0),
    ]
    result = Result({}, 3.0, 0, 0.0, None, None, 0.0, phases=[(60.0, 2.0), (240.0, 1.0)])
    result.log, result.samples = log, samples
    rows = timeline_markdown(result).splitlines()[2:]
    assert len(rows) == 3
    assert rows[0].startswith("| 0 | 60 | 2 | 0 | 10 / 30 | 10 / 10 |")
    # from the sample at 0 s to the one at 1.05 s: 0.5 s of the API's CPU, none of the worker's
    assert "| 48 / 0 / 29 / 0 | 0.2 | 0.71 |" in rows[0]
    assert rows[1].startswith("| 1 | 60 | 1 | 1 | 200 / 200 | 200 / 200 |")
    # the samples around it are 0 s and 2.1 s: 1.5 s of the API's CPU over 2.1 s
    assert "| 71 / 5 / 38 / 0 | 3.0 | 0.71 |" in rows[1]
    assert rows[2].startswith("| 2 | 240 | 1 | 0 | 50 / 50 | nan / nan | 77 / 5 / 36 / 0 | 0.0 |  |")
