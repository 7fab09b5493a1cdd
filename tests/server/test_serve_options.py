"""`tokenrace serve` options for the server's limits reach its settings, and --help explains each."""
from __future__ import annotations

import pytest

from tokenrace.cli import build_parser, main
from tokenrace.commands.serve_cmd import settings_from_args

NEW_OPTIONS = ("--max-body-bytes", "--max-runs-per-minute", "--run-burst", "--replay-cache-bytes", "--keep-runs",
               "--keep-days")


def test_defaults():
    s = settings_from_args(build_parser().parse_args(["serve"]))
    assert (s.max_body_bytes, s.max_runs_per_minute, s.run_burst) == (1024 * 1024, 30.0, 10)
    assert (s.keep_runs, s.keep_days, s.hub.keep_finished_bytes) == (1000, None, 64 * 1024 * 1024)


def test_options_reach_the_settings():
    args = build_parser().parse_args(["serve", "--max-body-bytes", "2048", "--max-runs-per-minute", "2.5",
                                      "--run-burst", "3", "--replay-cache-bytes", "1000000", "--keep-runs", "50",
                                      "--keep-days", "7.5"])
    s = settings_from_args(args)
    assert (s.max_body_bytes, s.max_runs_per_minute, s.run_burst) == (2048, 2.5, 3)
    assert (s.keep_runs, s.keep_days, s.hub.keep_finished_bytes) == (50, 7.5, 1_000_000)
    assert settings_from_args(build_parser().parse_args(["serve", "--keep-runs", "0"])).keep_runs is None


@pytest.mark.parametrize("bad", [["--keep-runs", "-1"], ["--keep-days", "0"], ["--run-burst", "0"],
                                 ["--max-runs-per-minute", "x"], ["--replay-cache-bytes", "-5"]])
def test_bad_values_are_usage_errors(bad, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["serve", *bad])
    assert e.value.code == 2
    assert bad[0] in capsys.readouterr().err


def test_help_lists_each_option_with_text(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    options = out[out.index("options:"):]
    entries = {}                                   # "--opt": its help text (argparse wraps and indents it)
    for block in options.split("\n  -")[1:]:
        name, _, rest = ("-" + block).partition(" ")
        entries[name] = " ".join(rest.split())
    for opt in NEW_OPTIONS:
        assert opt in entries, opt
        words = entries[opt].split()
        assert len(words) >= 6 and "default" in entries[opt], (opt, entries[opt])
