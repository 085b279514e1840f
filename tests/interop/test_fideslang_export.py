"""`export --format fideslang`: a manifest fideslang loads, using only keys of its taxonomy.

fideslang 3.1.4 pins pydantic below the version this project uses, so it is not in the test extra: CI installs it
beside the project without its dependencies (`.ci/run`), and the models test runs wherever it is importable. The
taxonomy checks run everywhere, against `fideslang_taxonomy.json` generated from fideslang itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from aether_policy import load_policy_text
from aether_policy.cli import main
from aether_policy.interop.fideslang import FIDESLANG_VERSION, fideslang_manifest
from aether_policy.plan import compile_policy
from tests.conftest import POLICY_FILE
from tests.helpers import shipped, shipped_plan

TAXONOMY = json.loads((Path(__file__).with_name("fideslang_taxonomy.json")).read_text(encoding="utf-8"))


def manifest() -> dict[str, Any]:
    return fideslang_manifest(shipped().policy, shipped_plan())


def category_keys(found: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for system in found["system"]:
        for flow in system.get("egress", []):
            keys.update(flow["data_categories"])
        for declaration in system["privacy_declarations"]:
            keys.update(declaration["data_categories"], declaration.get("shared_categories", []))
    for dataset in found["dataset"]:
        for collection in dataset["collections"]:
            for field in collection["fields"]:
                keys.update(field.get("data_categories", []))
    return keys


def test_the_taxonomy_snapshot_is_of_the_fideslang_release_the_export_names() -> None:
    assert TAXONOMY["fideslang"] == FIDESLANG_VERSION


def test_every_data_category_use_and_subject_is_a_key_of_fideslangs_taxonomy() -> None:
    found = manifest()
    assert category_keys(found) <= set(TAXONOMY["data_category"])
    declarations = [d for s in found["system"] for d in s["privacy_declarations"]]
    assert {d["data_use"] for d in declarations} <= set(TAXONOMY["data_use"])
    assert {s for d in declarations for s in d["data_subjects"]} <= set(TAXONOMY["data_subject"])
    assert found["system"][0]["meta"]["aether_unmapped"] == []


def test_every_fides_key_is_valid_and_every_reference_resolves() -> None:
    found = manifest()
    pattern = re.compile(TAXONOMY["fides_key_pattern"])
    systems = {s["fides_key"] for s in found["system"]}
    datasets = {d["fides_key"] for d in found["dataset"]}
    assert all(pattern.match(key) for key in systems | datasets)
    main_system = found["system"][0]
    flows = {flow["fides_key"] for flow in main_system["egress"]}
    assert flows <= systems and set(main_system["dataset_references"]) <= datasets
    for declaration in main_system["privacy_declarations"]:
        assert set(declaration.get("egress", [])) <= flows


def test_each_category_and_purpose_is_declared_with_its_retention() -> None:
    policy = shipped().policy
    declarations = {d["name"]: d for d in manifest()["system"][0]["privacy_declarations"]}
    for category in policy.categories.values():
        for purpose in category.purposes:
            assert f"{policy.purposes[purpose].title}: {category.title}" in declarations
    usage = declarations["Service Provision: API Usage"]
    assert (usage["data_use"], usage["retention_period"]) == ("essential.service", "90 days after collection")
    prompts = declarations["Service Provision: API Prompts and Responses"]
    assert prompts["data_categories"] == ["user.content.private"]
    assert prompts["retention_period"] == "30 days after flagging"
    assert prompts["third_parties"] == "OpenAI, Anthropic"


def test_the_dataset_lists_each_stored_column_with_its_category() -> None:
    [dataset] = manifest()["dataset"]
    columns = {c["name"]: {f["name"]: f.get("data_categories") for f in c["fields"]} for c in dataset["collections"]}
    assert columns["usage_events"]["ip_address"] == ["user.device.ip_address"]
    assert columns["api_keys"]["key_hash"] == ["user.authorization.credentials"]
    assert columns["quarantine"]["sealed"] == ["user.content.private"]
    assert dataset["meta"]["retention"]["quarantine"] == "30 days after flagging (retention.flagged_content)"


def test_a_category_or_purpose_without_a_mapping_takes_the_general_key_and_is_listed() -> None:
    text = POLICY_FILE.read_text(encoding="utf-8").replace(
        "  logs:\n    title: Log Data", "  journals:\n    title: Log Data"
    )
    text = text.replace(
        "[account, payment, contact, api_usage, device, logs]",
        "[account, payment, contact, api_usage, device, journals]",
    )
    text = text.replace("categories: [device, logs]", "categories: [device, journals]")
    policy = load_policy_text(text).policy
    found = fideslang_manifest(policy, compile_policy(policy))
    assert found["system"][0]["meta"]["aether_unmapped"] == ["categories.journals"]
    journals = next(d for d in found["system"][0]["privacy_declarations"] if d["name"].endswith(": Log Data"))
    assert journals["data_categories"] == ["user"]


def test_fideslangs_own_models_load_the_export() -> None:
    models = pytest.importorskip("fideslang.models")
    taxonomy = models.Taxonomy.model_validate(manifest())
    assert [s.fides_key for s in taxonomy.system][0] == "aetherapi" and len(taxonomy.dataset) == 1


def test_the_command_writes_yaml_that_round_trips(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "fides.yml"
    result = runner.invoke(main, ["export", "--format", "fideslang", "--policy", str(POLICY_FILE), "--out", str(out)])
    assert result.exit_code == 0
    assert yaml.safe_load(out.read_text(encoding="utf-8")) == manifest()
