"""One flag, one meaning: an option string shared by several subcommands parses the same way in each."""

from __future__ import annotations

import argparse

from calibench.cli import build_parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sub
                out.update({f"{name} {k}": v for k, v in _subcommands(sub).items()})
    return out


def test_a_flag_means_one_thing_in_every_subcommand() -> None:
    seen: dict[str, tuple] = {}
    for cmd, sub in _subcommands(build_parser()).items():
        for action in sub._actions:
            # a choice or a free value (a path, a number), and how it is taken; dests and the
            # choices themselves may differ (run's -o is output_dir, check's store; --format's formats)
            meaning = (action.choices is not None, type(action).__name__, action.nargs)
            for flag in action.option_strings:
                if flag in ("-h", "--help"):
                    continue
                first = seen.setdefault(flag, (cmd, *meaning))
                assert first[1:] == meaning, f"{flag}: {first[0]} has {first[1:]}, {cmd} has {meaning}"


def test_the_store_is_minus_o_everywhere_and_output_is_what_a_command_writes() -> None:
    for cmd, sub in _subcommands(build_parser()).items():
        for action in sub._actions:
            if "-o" in action.option_strings:
                assert "--output" not in action.option_strings, cmd
