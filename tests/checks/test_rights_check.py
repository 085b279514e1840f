"""`check` finds every granted right nothing exercises, reading the registry the page reads; the registry covers
the vocabulary and names only commands the CLI has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import click
import pytest

from aether_policy import load_policy_text
from aether_policy.checks.runner import CheckOptions, run_checks
from aether_policy.cli import main
from aether_policy.exercise import EXERCISES, PROGRAM, channel
from aether_policy.render import build_site
from aether_policy.render.site import MARKDOWN, PAGE
from aether_policy.vocabulary import Right
from tests.policy_edits import edit
from tests.vocabulary import eu_policy

HOW = (
    "  how_to_exercise: Write to [{{ service.contact_email }}](mailto:{{ service.contact_email }}) from your "
    "account's address.\n"
)
NOWHERE = "  how_to_exercise: Write to us from your account's address.\n"
POLICY = Path("policies/aetherapi.yaml")


def rights_findings(tmp_path: Path, text: str) -> list[str]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text, encoding="utf-8")
    report = run_checks(CheckOptions(policy, site=None))
    assert "rights" in report.ran
    return [str(f).replace(f"{policy}:", "") for f in report.findings if f.check == "rights"]


def without_channel(policy_text: str) -> str:
    return edit(eu_policy(policy_text), HOW, NOWHERE)


def test_the_shipped_policy_passes_the_rights_check() -> None:
    report = run_checks(CheckOptions(POLICY, site=Path("site")))
    assert "rights" in report.ran and [f for f in report.findings if f.check == "rights"] == []


def test_a_policy_granting_every_right_with_a_channel_passes(tmp_path: Path, policy_text: str) -> None:
    assert rights_findings(tmp_path, eu_policy(policy_text)) == []


def test_a_right_no_command_answers_and_no_channel_reaches_is_a_located_error(tmp_path: Path, policy_text: str) -> None:
    text = without_channel(policy_text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  available: ["))
    columns = {name: text.splitlines()[line - 1].index(name) + 1 for name in ("rectification", "restriction")}
    found = rights_findings(tmp_path, text)
    assert [f.split(": error: [rights] ")[0] for f in found] == [
        f"{line}:{columns['rectification']}",
        f"{line}:{columns['restriction']}",
        f"{line}:{text.splitlines()[line - 1].index('objection') + 1}",
        f"{line}:{text.splitlines()[line - 1].index('withdraw_consent') + 1}",
    ]
    assert found[0].endswith(
        "'rectification' is granted, but no aether-policy command answers it and `rights.how_to_exercise` names no "
        "email address or URL to ask at; say where to ask there (e.g. "
        "`[{{ service.contact_email }}](mailto:{{ service.contact_email }})`) or stop granting it"
    )


def test_rights_a_command_answers_need_no_channel(tmp_path: Path, policy_text: str) -> None:
    text = edit(
        without_channel(policy_text),
        "rectification, erasure, restriction, portability, objection, withdraw_consent, complaint]",
        "erasure, portability, complaint]",
    )
    text = text.replace("    legal_basis: consent\n", "    legal_basis: contract\n")  # no consent to withdraw
    assert rights_findings(tmp_path, text) == []


def test_a_web_page_is_a_channel_too(tmp_path: Path, policy_text: str) -> None:
    text = edit(eu_policy(policy_text), HOW, "  how_to_exercise: Use the form at {{ service.url }}/privacy/requests.\n")
    assert rights_findings(tmp_path, text) == []


@pytest.mark.parametrize(
    "prose",
    ["Write to privacy at aetherapi dot dev.", "Write to privacy@localhost.", "a" * 60_000, "x@" * 30_000],
)
def test_text_that_only_looks_like_an_address_is_no_channel(prose: str) -> None:
    assert channel(prose) is None


def test_every_right_of_the_vocabulary_is_registered() -> None:
    assert set(EXERCISES) == set(get_args(Right))


def test_every_registered_command_exists_in_the_cli_and_accepts_its_options() -> None:
    """Fails when a command the page names is renamed or loses an option, until the registry follows."""
    named = [e for e in EXERCISES.values() if e.command]
    assert {e.command for e in named} == {("accounts", "export"), ("accounts", "erase")}
    for exercise in named:
        group: click.Command = main
        for word in exercise.command:
            assert isinstance(group, click.Group), exercise.invocation
            found = group.commands.get(word)
            assert found is not None, f"{exercise.invocation}: no command '{word}'"
            group = found
        # Parse (never run) the command line the page prints, for some account.
        context = group.make_context(exercise.command[-1], ["acme", *exercise.options], resilient_parsing=False)
        assert context.params["name"] == "acme" and exercise.invocation.startswith(f"{PROGRAM} ")


def pages(text: str) -> tuple[str, str]:
    files = build_site(load_policy_text(text)).files
    return files[PAGE].decode(), files[MARKDOWN].decode()


def item(page: str, right: str) -> str:
    found = re.search(f'<li id="right-{right}">(.*?)</li>', page)
    assert found is not None, right
    return found.group(1)


def test_the_page_names_the_command_and_the_channel_of_each_right(policy_text: str) -> None:
    page, markdown = pages(eu_policy(policy_text))
    assert item(page, "access") == (
        "<strong>Access:</strong> ask for a copy of the personal data we hold about you. Ask at privacy@aetherapi.dev; "
        "we answer with a copy of what our gateway stores about your account, each item with the rule that allows it, "
        "when it will be deleted and who receives it (<code>aether-policy accounts export --format markdown</code>)."
    )
    assert item(page, "portability").endswith(
        "we answer with the same records as JSON (<code>aether-policy accounts export --format json</code>)."
    )
    assert item(page, "rectification").endswith(". Ask at privacy@aetherapi.dev; our staff handle it.")
    assert item(page, "complaint").endswith("with a data protection supervisory authority.")
    assert (
        "\n- **Erasure:** have your personal data deleted. Ask at privacy@aetherapi.dev; we answer with the erasure "
        "of what our gateway stores about your account, naming the rule and date of anything a rule keeps longer "
        "(`aether-policy accounts erase`).\n- **Restriction:**" in markdown
    )


def test_an_address_cannot_open_markup_on_the_page(policy_text: str) -> None:
    how = "  how_to_exercise: Use {{ service.url }}/a_b*c*_&amp;`x` or write to us.\n"
    page, markdown = pages(edit(eu_policy(policy_text), HOW, how))
    assert item(page, "objection").endswith(". Ask at https://aetherapi.dev/a_b*c*_&amp;amp;`x`; our staff handle it.")
    assert "Ask at https://aetherapi.dev/a\\_b\\*c\\*\\_\\&amp;\\`x\\`; our staff handle it." in markdown


def test_the_page_and_the_check_agree_on_what_cannot_be_exercised(tmp_path: Path, policy_text: str) -> None:
    text = without_channel(policy_text)
    page, _ = pages(text)
    unanswered = {f.split("'")[1] for f in rights_findings(tmp_path, text)}
    assert unanswered == {"rectification", "restriction", "objection", "withdraw_consent"}
    for right in ("access", "rectification", "erasure", "restriction", "portability", "objection", "complaint"):
        says_how = "Ask at" in item(page, right) or "(<code>aether-policy " in item(page, right)
        assert says_how == (right not in unanswered and right != "complaint"), right


@pytest.mark.parametrize(
    "how",
    [
        "Use the form at https://evil.example/rights.",
        "We do not answer requests sent to no-reply@aetherapi.dev.",
        "Write to noreply@aetherapi.dev.",
        "Write to us\n\n    [ref]: mailto:hidden@evil.example",
    ],
)
def test_an_address_or_page_nobody_answers_at_is_no_channel(tmp_path: Path, policy_text: str, how: str) -> None:
    text = edit(eu_policy(policy_text), HOW, "  how_to_exercise: |\n    " + how + "\n")
    assert len(rights_findings(tmp_path, text)) == 4  # rectification, restriction, objection, withdraw_consent


def test_an_address_in_a_links_title_is_not_the_channel() -> None:
    how = '[us](https://aetherapi.dev/requests "privacy@evil.example")'
    assert channel(how, "aetherapi.dev") == "https://aetherapi.dev/requests"


def test_a_page_of_a_subdomain_of_the_service_is_a_channel() -> None:
    assert channel("Use https://help.aetherapi.dev/privacy.", "aetherapi.dev") == "https://help.aetherapi.dev/privacy"
