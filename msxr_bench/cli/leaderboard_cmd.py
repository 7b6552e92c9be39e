"""`msxr-bench leaderboard validate|build`: thin click wrappers over `msxr_bench.leaderboard`."""

from __future__ import annotations

from pathlib import Path

import click

VALIDATE_EPILOG = """\b
Examples:
  msxr-bench leaderboard validate leaderboard/submissions
  msxr-bench leaderboard validate leaderboard/submissions/myorg__mymodel/v1.0 results/mymodel/ms-cxr.json

\b
Checks every model.json and results file: schema (extra fields refused), task name and version known to this
harness, harness version recorded, dataset split equal to the leaderboard's canonical sample set, every metric
and CI recomputed from the per-sample rows (within 1e-9), results tied to model.json (adapter, package version,
weights sha256, MIMIC-CXR flag), folder names, no duplicate (model, revision, task), files under 50 MB checked
before parsing, no NaN/Infinity. Submitted code is never imported or run. Exit status 1 on any issue.
"""


@click.group("leaderboard", context_settings={"help_option_names": ["-h", "--help"]})
def leaderboard_group() -> None:
    """Validate leaderboard submissions and build the leaderboard tables."""


@leaderboard_group.command("validate", epilog=VALIDATE_EPILOG)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_cmd(paths: tuple[Path, ...]) -> None:
    """Validate submission folders, a submissions tree, or results files."""
    from msxr_bench.leaderboard.validate import validate_paths

    report = validate_paths(list(paths))
    for issue in report.issues:
        click.echo(f"error: {issue}", err=True)
    for entry in report.entries:
        who = f"{entry.card.model} {entry.card.revision}" if entry.card else entry.result.adapter.name
        click.echo(f"ok: {entry.path} ({who}, {entry.result.task.name}, {entry.track})")
    if not report.ok:
        raise click.ClickException(f"{len(report.issues)} issue(s) in {report.n_files} file(s)")
    if not report.entries:
        raise click.ClickException("no results file found")
    click.echo(f"{len(report.entries)} results file(s) valid.")


BUILD_EPILOG = """\b
Examples:
  msxr-bench leaderboard build                      validate leaderboard/submissions, rewrite README.md + index.html
  msxr-bench leaderboard build --submissions my/submissions --output my/README.md --no-html
"""


@leaderboard_group.command("build", epilog=BUILD_EPILOG)
@click.option("--submissions", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboard/submissions"), show_default=True, help="The submissions tree.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("leaderboard/README.md"),
              show_default=True, help="Markdown: replaces the block between <!-- leaderboard:begin/end --> of an "
                                      "existing file, or writes a new page.")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path), default=Path("leaderboard/index.html"),
              show_default=True, help="The static HTML page (sortable columns, no dependencies).")
@click.option("--no-html", is_flag=True, help="Write the Markdown only.")
def build_cmd(submissions: Path, output: Path, html: Path, no_html: bool) -> None:
    """Validate every submission, then write the Markdown and HTML tables (measured rows per data track,
    papers' published numbers apart)."""
    from msxr_bench.leaderboard.build import BuildError, build

    try:
        report = build(submissions, output, None if no_html else html)
    except BuildError as exc:
        for issue in exc.report.issues:
            click.echo(f"error: {issue}", err=True)
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(report.entries)} validated results file(s); wrote {output}" + ("" if no_html else f" and {html}"))
