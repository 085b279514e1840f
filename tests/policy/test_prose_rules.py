"""Prose is data, not a program: rule values and a few filters print; everything else is a located error.

Prose that used to hang the build or take gigabytes runs the real CLI in a child process under a memory and
time limit (tests/hostile.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aether_policy import load_policy_text
from aether_policy.prose import MAX_POLICY_OUTPUT, MAX_STRING_OUTPUT
from aether_policy.render import build_site
from aether_policy.render.markdown import markdown_block
from aether_policy.render.site import JSON, MARKDOWN, PAGE
from tests.hostile import run_cli_limited, validate_limited
from tests.policy_edits import errors_for, line_of

CHILDREN = "Our Service is not directed to individuals under the age of {{ children.minimum_age }}. We do"


def with_children_prose(policy_text: str, prose: str) -> str:
    assert policy_text.count(CHILDREN) == 1
    return policy_text.replace(CHILDREN, prose)


def refusal(construct: str) -> str:
    return (
        f"prose may not use {construct}; it may only print rule values, such as "
        "`{{ retention.usage_data.keep_for }}`, through the filters capitalize, first, join, join_and, last, "
        "length, long_date, lower, month_year, title, titles, upper"
    )


@pytest.mark.parametrize(
    ("prose", "construct"),
    [
        ("{{ 9**(9**9) }}", "arithmetic (`**`)"),
        ("{{ 'x' * 10**9 }}", "arithmetic (`*`)"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}", "loops (`{% for %}`)"),
        ("{{ lipsum() }}", "calls (`lipsum()`)"),
    ],
)
def test_prose_that_hung_or_filled_memory_is_refused_naming_the_construct(
    tmp_path: Path, policy_text: str, prose: str, construct: str
) -> None:
    text = with_children_prose(policy_text, prose)
    assert validate_limited(tmp_path, text) == [
        f"{line_of(text, prose)}:1: sections.children.body: " + refusal(construct)
    ]


@pytest.mark.parametrize(
    ("prose", "expected"),
    [
        ("{{ range(3) | join }}", refusal("calls (`range()`)")),
        ("{{ service.name.upper() }}", refusal("calls (`upper()`)")),
        ("{% if children.minimum_age > 12 %}yes{% endif %}", refusal("conditions (`{% if %}`)")),
        ("{% set age = 3 %}", refusal("variables (`{% set %}`)")),
        ("{{ service.name ~ 'x' }}", refusal("`~` concatenation")),
        ("{{ children.minimum_age > 1 }}", refusal("comparisons")),
        ("{{ service.name if true }}", refusal("inline `if`")),
        ("{{ service.name is defined }}", refusal("tests (`is …`)")),
        ("{{ {'a': 1} }}", refusal("tuple and mapping literals")),
        ("{% include 'page.html.j2' %}", refusal("includes (`{% include %}`)")),
        ("{{ service.name[0:3] }}", "`[…]` in prose takes a quoted name or a number, such as `categories['account']`"),
        ("{{ none }}", "prose expressions may write quoted text and numbers, not `true`, `false` or `none`"),
    ],
)
def test_every_construct_but_lookups_and_filters_is_refused(policy_text: str, prose: str, expected: str) -> None:
    text = with_children_prose(policy_text, prose)
    assert errors_for(text) == [f"p.yaml:{line_of(text, prose)}:1: sections.children.body: {expected}"]


def test_a_filter_outside_the_allowlist_is_refused_with_the_list(policy_text: str) -> None:
    text = with_children_prose(policy_text, "{{ service.name | attr('__class__') }}")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'attr(')}:1: sections.children.body: the filter `attr` is not allowed in "
        "prose; use one of capitalize, first, join, join_and, last, length, long_date, lower, month_year, title, "
        "titles, upper"
    ]


def test_a_method_is_not_a_rule_value(policy_text: str) -> None:
    text = with_children_prose(policy_text, "{{ purposes.items }}")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'purposes.items')}:1: sections.children.body: prose reference: 'items' is "
        "not defined here; expected one of: 'business_operations', 'communication', 'improvement_analytics', "
        "'legal_compliance', 'service_provision'"
    ]


def test_printing_a_whole_list_asks_for_a_join(policy_text: str) -> None:
    text = with_children_prose(policy_text, "{{ changes.notify_by }}")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '{{ changes.notify_by }}')}:1: sections.children.body: prose reference: this prints a "
        "list, not a value; join it with `| join_and`"
    ]


def test_allowed_lookups_and_filters_print_rule_values(policy_text: str) -> None:
    prose = (
        "{{ changes.notify_by | join_and }}; {{ purposes | titles | join(' / ') | lower }}; "
        "{{ categories['account'].fields.email.title | upper }}; {{ changes.notify_by | first }}; "
        "{{ purposes | length }}; {{ last_updated | long_date }}; {{ retention.usage_data.keep_for }} "
        "{{ '{{' }}literal{{ '}}' }}"
    )
    loaded = load_policy_text(with_children_prose(policy_text, prose), "p.yaml")
    page = build_site(loaded).files[JSON].decode()
    assert (
        "website; service provision / business operations / communication / improvement "
        "and analytics / legal compliance; EMAIL ADDRESS; website; 5; November 25, 2026; 90 days {{literal}}"
    ) in page


def long_description(policy_text: str, length: int) -> str:
    old = "  description: an AI API routing service and dashboard platform\n"
    assert policy_text.count(old) == 1
    return policy_text.replace(old, f"  description: {'d' * length}\n")


def test_one_prose_string_is_capped(policy_text: str) -> None:
    text = long_description(policy_text, MAX_STRING_OUTPUT // 2)
    prose = "{{ service.description }} {{ service.description }} {{ service.description }}"
    text = with_children_prose(text, prose)
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, prose)}:1: sections.children.body: this prose renders to more than "
        f"{MAX_STRING_OUTPUT:,} characters; shorten it"
    ]


def test_all_prose_of_a_policy_is_capped(policy_text: str) -> None:
    text = long_description(policy_text, MAX_STRING_OUTPUT // 2)
    count = MAX_POLICY_OUTPUT // (MAX_STRING_OUTPUT // 2) + 1  # each note alone is well under its own cap
    notes = "".join(f"\n      - {{title: n{i}, body: '{{{{ service.description }}}}'}}" for i in range(count))
    old = "  children:\n    title: Children's Privacy\n"
    text = text.replace(old, f"  children:\n    notes:{notes}\n    title: Children's Privacy\n")
    (problem,) = errors_for(text)
    assert problem.endswith(
        f"the policy's prose renders to more than {MAX_POLICY_OUTPUT:,} characters in all; shorten it"
    )


def test_a_markdown_image_is_refused_so_no_tracking_pixel_reaches_the_page(policy_text: str) -> None:
    prose = "![](https://tracker.example/pixel.gif?u=1) Our Service is for adults over {{ children.minimum_age }}."
    text = with_children_prose(policy_text, prose)
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'pixel.gif')}:1: sections.children.body: images are not allowed in prose: a "
        "picture from another server sees every reader of the page; describe it in words"
    ]


@pytest.mark.parametrize(
    "target",
    ["https://tracker.example/", "http://evil.example/x", "//evil.example/x", "javascript:alert(1)", "data:x"],
)
def test_a_link_off_the_site_is_refused(policy_text: str, target: str) -> None:
    text = with_children_prose(policy_text, f"See [this]({target}) under {{{{ children.minimum_age }}}}.")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'See [this]')}:1: sections.children.body: the link to '{target}' leaves the "
        "site; prose may link to a page of aetherapi.dev, an anchor on this page (`#retention`) or a `mailto:` "
        "address"
    ]


def test_an_autolink_off_the_site_is_refused_too(policy_text: str) -> None:
    text = with_children_prose(policy_text, "<https://tracker.example/a> {{ children.minimum_age }}")
    (problem,) = errors_for(text)
    assert "the link to 'https://tracker.example/a' leaves the site" in problem


@pytest.mark.parametrize(
    "target", ["https://aetherapi.dev/terms", "https://docs.aetherapi.dev/x", "#retention", "mailto:a@aetherapi.dev"]
)
def test_links_to_the_site_its_anchors_and_mail_are_allowed(policy_text: str, target: str) -> None:
    text = with_children_prose(policy_text, f"See [this]({target}) under {{{{ children.minimum_age }}}}.")
    page = build_site(load_policy_text(text, "p.yaml")).files[PAGE].decode()
    assert f'<a href="{target}">this</a>' in page


def test_a_link_built_from_a_reference_is_judged_after_evaluation(policy_text: str) -> None:
    text = with_children_prose(policy_text, "[x](https://{{ service.name }}.example/) {{ children.minimum_age }}")
    (problem,) = errors_for(text)
    assert "the link to 'https://AetherAPI.example/' leaves the site" in problem


def test_the_build_is_byte_identical_in_two_processes(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        outcome = run_cli_limited("build", "--out", str(tmp_path / run))
        assert outcome.code == 0, outcome
        outputs.append({p.name: p.read_bytes() for p in (tmp_path / run).rglob("*") if p.is_file()})
    assert outputs[0] == outputs[1] and len(outputs[0]) == 3


def test_privacy_md_escapes_html_from_prose(policy_text: str) -> None:
    prose = "<script>alert(1)</script> <img src=x onerror=alert(1)> 1 < 2 <https://aetherapi.dev/x> {{ children.minimum_age }}"
    site = build_site(load_policy_text(with_children_prose(policy_text, prose), "p.yaml"))
    markdown = site.files[MARKDOWN].decode()
    assert (
        "&lt;script>alert(1)&lt;/script> &lt;img src=x onerror=alert(1)> 1 < 2 <https://aetherapi.dev/x> 13" in markdown
    )
    assert "<script" not in markdown and "<img" not in markdown


def test_the_renderer_prints_an_image_as_its_alt_text_even_if_one_got_past_the_loader() -> None:
    html = str(markdown_block("See ![a <b>pixel</b>](https://tracker.example/p.gif) here."))
    assert html == "<p>See a &lt;b&gt;pixel&lt;/b&gt; here.</p>\n"
