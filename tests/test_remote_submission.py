"""model.json of a model run by the `remote` adapter names its environment (a lock file inside the submission
folder and the worker entry); paths stay inside the folder and requirements files pin every package by hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from msxr_bench.leaderboard.submission import EnvironmentSource, ModelCard, environment_problems

CARD = {
    "schema_version": "1.0.0", "model": "org/himl-biovil", "revision": "v1", "display_name": "BioViL (hi-ml)",
    "description": "BioViL computed by hi-ml-multimodal in its own environment",
    "adapter": {"name": "remote", "package": "msxr-bench", "version": "0.1.0", "entry_point": None},
    "weights": {"source": "hf:microsoft/BiomedVLP-CXR-BERT-specialized", "revision": "v1.1", "sha256": "a" * 64},
    "training": {"datasets": ["MIMIC-CXR"], "mimic_cxr_overlap": True}, "licence": "MIT", "contact": "me@example.org",
}
ENV = {"lock_file": "env/requirements.txt", "python": "3.11",
       "entry": "msxr_bench.remote.workers.himl_biovil:make_adapter"}


def test_a_remote_model_names_its_environment_and_only_it() -> None:
    card = ModelCard.model_validate({**CARD, "environment": ENV})
    assert card.environment.lock_file == "env/requirements.txt"
    with pytest.raises(ValidationError, match="names its `environment`"):
        ModelCard.model_validate(CARD)
    with pytest.raises(ValidationError, match="names its `environment`"):
        ModelCard.model_validate({**CARD, "adapter": {**CARD["adapter"], "name": "biovil"}, "environment": ENV})


@pytest.mark.parametrize("field, value", [
    ("lock_file", "../requirements.txt"), ("lock_file", "/etc/requirements.txt"), ("lock_file", "env/setup.py"),
    ("lock_file", "a/../../uv.lock"), ("entry", "../worker.py:make"), ("entry", "/abs/worker.py:make"),
    ("entry", "pkg.mod"), ("python", "python3"),
])
def test_environment_paths_stay_inside_the_folder(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        EnvironmentSource.model_validate({**ENV, field: value})


def test_requirements_must_pin_every_package_by_hash(tmp_path: Path) -> None:
    env = EnvironmentSource.model_validate(ENV)
    assert "not a file" in environment_problems(env, tmp_path)[0]
    (tmp_path / "env").mkdir()
    lock = tmp_path / "env" / "requirements.txt"
    lock.write_text("# pinned\n--index-url https://pypi.org/simple\nnumpy==2.4.6 \\\n    --hash=sha256:" + "0" * 64 +
                    "\nhi-ml-multimodal==0.2.2 --hash=sha256:" + "1" * 64 + "\n")
    assert environment_problems(env, tmp_path) == []
    lock.write_text(lock.read_text() + "transformers<5\n")
    assert environment_problems(env, tmp_path) == [
        "environment.lock_file env/requirements.txt: requirements without --hash=sha256: transformers<5"]
