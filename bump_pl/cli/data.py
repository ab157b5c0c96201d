"""``bump-data``: download LaMP's official files or write synthetic LaMP-format users."""

from __future__ import annotations

import argparse
import sys

from bump_pl.cli.failure import OneLineParser, run_command
from bump_pl.data.download import OFFICIAL_BASE_URL, download_lamp
from bump_pl.data.synthetic import SYNTHETIC_TASKS, write_synthetic_lamp


def build_parser() -> argparse.ArgumentParser:
    """The ``download`` and ``synth`` subcommands."""
    parser = OneLineParser(prog="bump-data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    down = commands.add_parser("download", help="download official LaMP files (cached, checksummed)")
    down.add_argument("--task", required=True, help="LaMP_1 … LaMP_7 (LaMP_6 is not downloadable)")
    down.add_argument("--split", required=True, choices=["train", "dev", "test"])
    down.add_argument("--setting", default="user", choices=["user", "time"])
    down.add_argument("--out", required=True, help="destination folder")
    down.add_argument("--base-url", default=OFFICIAL_BASE_URL)
    synth = commands.add_parser("synth", help="write synthetic LaMP-format users")
    synth.add_argument("--task", required=True, help=f"one of {', '.join(SYNTHETIC_TASKS)}")
    synth.add_argument("--users", type=int, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--items-per-user", type=int, default=40)
    synth.add_argument("--words-per-item", type=int, default=None)
    synth.add_argument("--out", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``bump-data``; the exit code follows :mod:`bump_pl.cli.failure` (one line on stderr)."""
    return run_command("bump-data", lambda: _run(build_parser().parse_args(argv)))


def _run(args: argparse.Namespace) -> None:
    if args.command == "download":
        for path in download_lamp(args.task, args.split, args.out, args.setting, args.base_url):
            print(path)
    else:
        counts = write_synthetic_lamp(args.out, args.task, args.users, args.seed, args.items_per_user, args.words_per_item)
        print(f"wrote {counts} users to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
