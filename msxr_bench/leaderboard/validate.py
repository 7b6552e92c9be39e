"""`leaderboard validate`: submission folders (`<org>__<model>/<revision>/` with `model.json` and `<task>.json`
files) and loose results files, checked without importing or running anything submitted (JSON only).

Per file: `checks.py`. Per folder: names match model.json, only JSON files named after tasks, results tied to
model.json (adapter name, package version, weights sha256, MIMIC-CXR flag), one track. Across everything given:
no duplicate (model, revision, task).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from msxr_bench.leaderboard.board import BOARD, Track, setting_key
from msxr_bench.leaderboard.checks import (
    Issue, check_board, check_metrics, check_rows, check_task, check_text, load_result, pydantic_issues,
)
from msxr_bench.leaderboard.safe_json import UnsafeJSONError, read_json
from msxr_bench.leaderboard.submission import ModelCard, environment_problems, names_mimic_cxr
from msxr_bench.results import TaskResult
from msxr_bench.run_manifest import MANIFEST_NAME, check_run_folder

MODEL_FILE = "model.json"
CONTAINER_FILES = {"README.md", ".gitkeep"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".npy", ".tif", ".tiff", ".gif", ".bmp", ".webp"}


@dataclass
class Entry:
    """One results file that passed every check."""

    path: Path
    result: TaskResult
    track: Track
    card: ModelCard | None = None


@dataclass
class Report:
    issues: list[Issue] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    n_files: int = 0

    @property
    def ok(self) -> bool:
        return not self.issues


def validate_result_file(path: Path) -> tuple[Entry | None, list[Issue]]:
    """Every file-level check of one results file."""
    result, issues = load_result(path)
    if result is None:
        return None, issues
    issues = check_task(path, result)
    if issues:  # unknown task or version: nothing else can be checked against this harness
        return None, issues
    issues += check_rows(path, result) + check_text(path, result)
    board_issues, track = check_board(path, result)
    # CIs are recomputed (seeded bootstrap) only for canonical sample sets: bounded work per file
    issues += check_metrics(path, result, with_ci=track is not None)
    issues += board_issues
    if issues or track is None:
        return None, issues
    return Entry(path, result, track), []


def _card_issues(path: Path, card: ModelCard, r: TaskResult) -> list[Issue]:
    out = []
    if r.adapter.name != card.adapter.name:
        out.append(Issue(path, "adapter.name", f"{r.adapter.name!r} but model.json says {card.adapter.name!r}"))
    if r.adapter.meta.weights_sha256 is None:
        out.append(Issue(path, "adapter.meta.weights_sha256", "not recorded: the results cannot be tied to the "
                                                              "weights of model.json"))
    elif r.adapter.meta.weights_sha256 != card.weights.sha256:
        out.append(Issue(path, "adapter.meta.weights_sha256", "differs from model.json weights.sha256"))
    package_version = r.provenance.packages.get(card.adapter.package)
    if package_version != card.adapter.version:
        out.append(Issue(path, "provenance.packages", f"{card.adapter.package} {package_version!r} was installed, "
                                                      f"model.json says {card.adapter.version!r}"))
    mimic = [d for d in r.adapter.meta.training_data if names_mimic_cxr(d)]
    if mimic and not card.training.mimic_cxr_overlap:
        out.append(Issue(path, "adapter.meta.training_data", f"names {', '.join(mimic)} but model.json "
                                                             "training.mimic_cxr_overlap is false"))
    return out


def validate_submission(folder: Path) -> Report:
    """A `<org>__<model>/<revision>/` folder: model.json, then each results file and its ties to model.json."""
    report = Report()
    card_path = folder / MODEL_FILE
    card = None
    try:
        card = ModelCard.model_validate(read_json(card_path))
    except (UnsafeJSONError, ValidationError) as exc:
        report.issues += (pydantic_issues(card_path, exc) if isinstance(exc, ValidationError)
                          else [Issue(card_path, "", str(exc).removeprefix(f"{card_path}: "))])
    report.n_files += 1
    if card is not None:
        if folder.name != card.revision:
            report.issues.append(Issue(folder, "", f"folder {folder.name!r} must be the revision {card.revision!r}"))
        if folder.parent.name != card.folder:
            report.issues.append(Issue(folder.parent, "", f"folder {folder.parent.name!r} must be {card.folder!r} "
                                                          f"(model {card.model!r})"))
    tracks: set[str] = set()
    results_files = [p for p in sorted(folder.iterdir()) if p.suffix == ".json" and p.stem in BOARD and p.is_file()]
    report.issues += [Issue(folder / MANIFEST_NAME, "", why) for why in _run_problems(folder, results_files)]
    environment = _environment_files(card)
    if card is not None and card.environment is not None:
        report.issues += [Issue(folder / MODEL_FILE, "environment", why)
                          for why in environment_problems(card.environment, folder)]
    for path in sorted(folder.iterdir()):
        if path.name in (MODEL_FILE, MANIFEST_NAME) or path.name in environment:
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            report.issues.append(Issue(path, "", "image file in a submission: heatmaps and pictures show credentialed "
                                                 "images (MIMIC-CXR pixels); submit results JSONs only"))
            continue
        if path.is_symlink() or not path.is_file() or path.suffix != ".json" or path.stem not in BOARD:
            report.issues.append(Issue(path, "", "unexpected entry: a submission folder holds model.json and "
                                                 f"results files named <task>[@<protocol>].json ({', '.join(BOARD)})"))
            continue
        report.n_files += 1
        entry, issues = validate_result_file(path)
        report.issues += issues
        if entry is None:
            continue
        key = setting_key(entry.result.task.name, entry.result.protocol.name)
        if key != path.stem:
            report.issues.append(Issue(path, "task.name", f"{key!r} (task and protocol) in a file named {path.name}"))
            continue
        if card is None:
            continue
        card_issues = _card_issues(path, card, entry.result)
        report.issues += card_issues
        if not card_issues:
            entry.card = card
            tracks.add(entry.track)
            report.entries.append(entry)
    if len(tracks) > 1:
        report.issues.append(Issue(folder, "", f"mixes results of different data ({', '.join(sorted(tracks))}); "
                                               "submit toy-world and real-data runs as different revisions"))
    if card is not None and report.n_files == 1:
        report.issues.append(Issue(folder, "", "no results file beside model.json"))
    return report


def _environment_files(card: ModelCard | None) -> set[str]:
    """Files a remote model's card names inside its folder (lock file, entry file): data, never imported here."""
    env = card.environment if card is not None else None
    if env is None:
        return set()
    names = {env.lock_file}
    module = env.entry.partition(":")[0]
    if module.endswith(".py"):
        names.add(module)
    return {n for n in names if "/" not in n}


def _run_problems(folder: Path, files: list[Path]) -> list[str]:
    try:
        return check_run_folder(folder, files)
    except ValueError as exc:
        return [str(exc)]


def _discover(path: Path, report: Report) -> tuple[list[Path], list[Path]]:
    """(submission folders, loose results files) under `path`; stray entries become issues."""
    if path.is_symlink():
        report.issues.append(Issue(path, "", "symbolic links are not accepted"))
        return [], []
    if path.is_file():
        return ([path.parent], []) if (path.parent / MODEL_FILE).exists() else ([], [path])
    if not path.is_dir():
        report.issues.append(Issue(path, "", "no such file or folder"))
        return [], []
    folders: list[Path] = []
    loose: list[Path] = []
    for root, dirs, files in os.walk(path):
        here = Path(root)
        for d in list(dirs):
            if (here / d).is_symlink():
                report.issues.append(Issue(here / d, "", "symbolic links are not accepted"))
                dirs.remove(d)
        dirs.sort()
        if MODEL_FILE in files or any(f.endswith(".json") for f in files):
            if MODEL_FILE not in files and here == path:  # a results folder of `evaluate`, given directly
                given = [here / f for f in sorted(files) if f.endswith(".json") and f != MANIFEST_NAME]
                report.issues += [Issue(here / MANIFEST_NAME, "", why) for why in _run_problems(here, given)]
                loose += given
                dirs.clear()
                continue
            if MODEL_FILE not in files:
                report.issues.append(Issue(here, "", f"results without a {MODEL_FILE}"))
                dirs.clear()
                continue
            folders.append(here)
            if dirs:
                report.issues.append(Issue(here, "", f"a submission folder has no subfolders ({', '.join(dirs)})"))
            dirs.clear()
        else:
            report.issues += [Issue(here / f, "", "stray file outside a submission folder")
                              for f in sorted(files) if f not in CONTAINER_FILES]
    return folders, loose


def validate_paths(paths: list[Path]) -> Report:
    """Validate everything under `paths` and check that no (model, revision, task) appears twice."""
    report = Report()
    folders: list[Path] = []
    loose: list[Path] = []
    for p in paths:
        f, l_ = _discover(Path(p), report)
        folders += f
        loose += l_
    for folder in dict.fromkeys(p.resolve() for p in folders):
        sub = validate_submission(folder)
        report.issues += sub.issues
        report.entries += sub.entries
        report.n_files += sub.n_files
    for path in dict.fromkeys(loose):
        entry, issues = validate_result_file(path)
        report.n_files += 1
        report.issues += issues
        if entry is not None:
            report.entries.append(entry)
    seen: dict[tuple[str, str, str], Path] = {}
    for e in report.entries:
        if e.card is None:
            continue
        name = setting_key(e.result.task.name, e.result.protocol.name)
        key = (e.card.model.lower(), e.card.revision.lower(), name)
        if key in seen:
            report.issues.append(Issue(e.path, "", f"duplicate entry: {e.card.model} {e.card.revision} "
                                                   f"{name} is also in {seen[key]}"))
        else:
            seen[key] = e.path
    return report
