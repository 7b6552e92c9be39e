"""The `msxr-bench` command line: a click group whose subcommands live one per module here and are
imported only when used (so `msxr-bench --help` stays fast and one broken command spares the rest).
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "list": "msxr_bench.cli.list_cmd:list_cmd",
    "toyworld": "msxr_bench.cli.toyworld_cmd:toyworld_cmd",
    "rsna-split": "msxr_bench.cli.rsna_split_cmd:rsna_split_cmd",
    "evaluate": "msxr_bench.cli.evaluate_cmd:evaluate_cmd",
    "ground": "msxr_bench.cli.ground_cmd:ground_cmd",
    "train": "msxr_bench.cli.train_cmd:train_cmd",
    "convert-gloria": "msxr_bench.cli.convert_gloria_cmd:convert_gloria_cmd",
    "leaderboard": "msxr_bench.cli.leaderboard_cmd:leaderboard_group",
    "compare": "msxr_bench.cli.compare_cmd:compare_cmd",
    "export": "msxr_bench.cli.export_cmd:export_group",
    "reproduce": "msxr_bench.cli.reproduce_cmd:reproduce_cmd",
    "convert-split": "msxr_bench.cli.convert_split_cmd:convert_split_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        ref = COMMANDS.get(name)
        if ref is None:
            return None
        module_name, _, attr = ref.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not installed in this build
                return None
            raise
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="msxr-bench")
def main() -> None:
    """msxr-bench: evaluate chest X-ray vision-language models on MS-CXR, RSNA Pneumonia and RadNLI."""
