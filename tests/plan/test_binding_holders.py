"""What the bindings resolve to, defaults included, is checked when the policy loads: one field per usage slot, a
timestamp kept as long as the usage rows, one category of its own per stored table, one rule per field.

Each policy here passed `validate` and `check` before, while the runtime misbehaved: the retention run failed
on the NOT NULL timestamp, the client address was recorded as the model and forwarded to a provider receiving
only the model, the audit trail was expired under the usage rule, and the page printed one period while the
jobs kept a field for another.
"""

from __future__ import annotations

import pytest

from aether_policy import load_policy_text
from aether_policy.bindings import REQUIRED_SLOTS, USAGE_SLOTS
from tests.conftest import ROOT
from tests.policy_edits import edit, errors_for, line_of

NORDLICHT = ROOT / "policies" / "examples" / "nordlicht.yaml"


@pytest.fixture
def nordlicht() -> str:
    return NORDLICHT.read_text(encoding="utf-8")


def test_the_example_policies_bind_every_slot_to_a_field_and_table_of_its_own(policy_text: str, nordlicht: str) -> None:
    for text in (policy_text, nordlicht):
        load_policy_text(text, "p.yaml")  # raises on any located problem


def test_the_required_slots_are_the_usage_tables_not_null_columns() -> None:
    from aether_policy.store import tables

    required = {c.name for c in tables.usage_events.columns if not c.nullable and not c.primary_key}
    assert {column for slot in REQUIRED_SLOTS for column in USAGE_SLOTS[slot]} == required


def test_a_timestamp_bound_to_a_field_erased_before_the_row_is_a_located_error(nordlicht: str) -> None:
    text = edit(nordlicht, "    timestamp: nutzung.zeitpunkt", "    timestamp: netzwerk.ip_adresse")
    text = edit(text, "    ip_address: netzwerk.ip_adresse", "    ip_address: null")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '    timestamp: netzwerk.ip_adresse')}:5: bindings.usage.timestamp: "
        "'netzwerk.ip_adresse' holds the timestamp slot, which every usage row needs until the row is deleted, but "
        "its rule 'netzwerkdaten' (1 year) is shorter than 'nutzungsdaten' (2 years), which keeps the rows (the "
        "retention run could not erase it): bind `bindings.usage.timestamp` to a field kept under 'nutzungsdaten'"
    ]


def test_a_timestamp_field_picked_by_its_name_under_a_shorter_rule_is_located_at_the_field(policy_text: str) -> None:
    text = edit(
        policy_text,
        "      ip_address: {title: IP address}\n",
        "      ip_address: {title: IP address}\n      timestamp: {title: Time of the request}\n",
    )
    [error] = errors_for(text)
    assert error.startswith(
        f"p.yaml:{line_of(text, '      timestamp: {title: Time of the request}')}:7: "
        "categories.device.fields.timestamp: 'device.timestamp' holds the timestamp slot"
    )
    assert error.endswith("or rename this field (it holds the slot by its name)")


def test_an_unbound_timestamp_is_a_located_error(nordlicht: str) -> None:
    text = edit(nordlicht, "    timestamp: nutzung.zeitpunkt", "    timestamp: null")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '    timestamp: null')}:5: bindings.usage.timestamp: the gateway needs the "
        "timestamp slot in every usage row (usage_events.timestamp is required; without it every usage row is "
        "dropped): bind `bindings.usage.timestamp` to a field of an automatic category kept under 'nutzungsdaten', "
        "as long as the usage rows"
    ]


def test_two_slots_bound_to_one_field_are_located_at_both_bindings(nordlicht: str) -> None:
    text = edit(nordlicht, "    ip_address: netzwerk.ip_adresse", "    ip_address: nutzung.modell")
    both = (
        "one field holds one slot (two on one field record one value as the other, keep both under one rule and "
        "forward both to whoever receives either)"
    )
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '    model: nutzung.modell')}:5: bindings.usage.model: 'nutzung.modell' also holds "
        f"the ip_address slot; {both}: bind `bindings.usage.model` to a field of its own, or to null if the gateway "
        "must not record it",
        f"p.yaml:{line_of(text, '    ip_address: nutzung.modell')}:5: bindings.usage.ip_address: 'nutzung.modell' "
        f"also holds the model slot; {both}: bind `bindings.usage.ip_address` to a field of its own, or to null if "
        "the gateway must not record it",
    ]


def test_a_timestamp_sharing_a_field_is_never_told_to_bind_null(nordlicht: str) -> None:
    text = edit(nordlicht, "    timestamp: nutzung.zeitpunkt", "    timestamp: netzwerk.ip_adresse")
    [timestamp, _] = errors_for(text)
    assert timestamp.startswith(f"p.yaml:{line_of(text, '    timestamp: netzwerk.ip_adresse')}:5: ")
    assert timestamp.endswith("bind `bindings.usage.timestamp` to a field of its own")


def test_a_usage_slot_bound_to_a_field_of_the_audit_trail_is_located_at_both_bindings(nordlicht: str) -> None:
    text = edit(nordlicht, "    ip_address: netzwerk.ip_adresse", "    ip_address: protokoll.akteur")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '  audit: protokoll')}:3: bindings.audit: 'protokoll' also holds the usage slot "
        "ip_address; usage data is kept under its own rule, not under the one for the audit trail: bind the audit "
        "table to a category of its own, or the usage slots to fields of an automatic usage category",
        f"p.yaml:{line_of(text, '    ip_address: protokoll.akteur')}:5: bindings.usage.ip_address: "
        "'protokoll.akteur' is a field of the category that holds the audit table slot; usage data is kept under "
        "its own rule, not under the one for the audit trail: bind `bindings.usage.ip_address` to a field of an "
        "automatic usage category",
    ]


def test_accounts_bound_to_a_usage_category_name_every_usage_slot_it_holds(nordlicht: str) -> None:
    text = edit(nordlicht, "  accounts: kundenkonto", "  accounts: netzwerk")
    errors = errors_for(text)
    assert errors[0].startswith(
        f"p.yaml:{line_of(text, '  accounts: netzwerk')}:3: bindings.accounts: 'netzwerk' also holds the usage "
        "slots ip_address, browser;"
    )
    assert [e.split(": ")[1] for e in errors[1:]] == ["bindings.usage.ip_address", "bindings.usage.browser"]


@pytest.mark.parametrize("slot", ["accounts", "audit", "rate_windows", "cookies"])
def test_a_stored_table_bound_to_the_content_category_is_a_located_error(nordlicht: str, slot: str) -> None:
    old = next(line for line in nordlicht.splitlines() if line.startswith(f"  {slot}: "))
    text = edit(nordlicht, old + "\n", f"  {slot}: eingaben\n")
    errors = errors_for(text)
    assert (
        f"p.yaml:{line_of(text, f'  {slot}: eingaben')}:3: bindings.{slot}: 'eingaben' is the request content "
        f"category; the {slot} table slot may not share it (its rows would be expired, exported and forwarded as "
        "prompt content): declare a category of its own for it, with a retention rule, and bind it here"
    ) in errors


def test_two_stored_tables_bound_to_one_category_are_located_at_both_bindings(nordlicht: str) -> None:
    text = edit(nordlicht, "  audit: protokoll", "  audit: nutzung")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '  audit: nutzung')}:3: bindings.audit: 'nutzung' also holds the rate_windows table "
        "slot; each stored table needs a category of its own (its own retention rule and page entry): declare one "
        "for this slot and bind it here",
        f"p.yaml:{line_of(text, '  rate_windows: nutzung')}:3: bindings.rate_windows: 'nutzung' also holds the audit "
        "table slot; each stored table needs a category of its own (its own retention rule and page entry): declare "
        "one for this slot and bind it here",
    ]


def test_a_stored_table_bound_to_a_category_another_holds_by_default_says_so(policy_text: str) -> None:
    text = policy_text.replace("\nsections:\n", "\nbindings:\n  audit: account\nsections:\n", 1)
    errors = errors_for(text)
    assert (
        f"p.yaml:{line_of(text, '  audit: account')}:3: bindings.audit: 'account' also holds the accounts (by "
        "default) table slot; each stored table needs a category of its own (its own retention rule and page "
        "entry): declare one for this slot and bind it here"
    ) in errors


def test_a_field_two_rules_cover_is_an_error_naming_both_rules(nordlicht: str) -> None:
    text = edit(
        nordlicht, "    categories: [nutzung, betrieb]", "    categories: [nutzung, betrieb, netzwerk.ip_adresse]"
    )
    line = line_of(text, "    categories: [netzwerk]")
    assert errors_for(text) == [
        f"p.yaml:{line}:18: retention.netzwerkdaten.categories[0]: 'netzwerk.ip_adresse' is already kept under "
        "retention rule 'nutzungsdaten' (as 'netzwerk.ip_adresse'), and 'netzwerkdaten' covers it again (as "
        "'netzwerk'); a field is kept under one rule: remove it from 'nutzungsdaten' or from 'netzwerkdaten'"
    ]


def test_a_field_a_later_rule_covers_again_is_located_at_the_later_entry(nordlicht: str) -> None:
    text = edit(nordlicht, "    categories: [protokoll]", "    categories: [protokoll, netzwerk.ip_adresse]")
    [error] = errors_for(text)
    assert error.startswith(f"p.yaml:{line_of(text, '    categories: [protokoll, netzwerk.ip_adresse]')}:29: ")
    assert "retention.pruefprotokoll.categories[1]: 'netzwerk.ip_adresse' is already kept under retention rule " in (
        error
    )
    assert "'netzwerkdaten'" in error


def test_two_slots_on_one_field_are_reported_alongside_a_broken_retention_rule(nordlicht: str) -> None:
    text = edit(nordlicht, "    ip_address: netzwerk.ip_adresse", "    ip_address: nutzung.modell")
    text = edit(text, "    keep_for: 3 years", "    keep_for: forever")
    errors = errors_for(text)
    assert any("retention.pruefprotokoll.keep_for: 'forever' is not a duration" in e for e in errors)
    assert any("bindings.usage.ip_address: 'nutzung.modell' also holds the model slot" in e for e in errors)
