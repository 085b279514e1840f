"""A hostile or careless policy file gets one located problem, never a traceback, a hang or gigabytes.

Inputs that used to exhaust memory or recurse without bound run the real CLI in a child process under a
memory and time limit (tests/hostile.py); the rest are located problems checked in-process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aether_policy import PolicyLoadError, load_policy
from aether_policy._positions import MAX_DEPTH, MAX_TEXT, MAX_VALUES, load_located
from aether_policy._validation import MAX_FILE_BYTES
from tests.hostile import validate_limited
from tests.policy_edits import errors_for


def billion_laughs(levels: int = 9) -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) values once expanded, from ten short lines."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_alias_bomb_is_refused_at_the_alias_that_multiplies_it(tmp_path: Path) -> None:
    # a5's 9 * 9**5 values are the first to cross the budget: the problem points at its first alias
    assert validate_limited(tmp_path, billion_laughs()) == [
        f"6:{len('a5: &a5 [') + 1}: this document expands to more than {MAX_VALUES:,} values through aliases (`*name`) or merges "
        "(`<<`); repeat less, or write the values out"
    ]


def test_aliases_that_repeat_a_long_text_are_refused_by_the_text_budget(tmp_path: Path) -> None:
    text = "big: &big " + "x" * 200_000 + "\nmany: [" + ", ".join(["*big"] * 2_000) + "]\n"
    assert validate_limited(tmp_path, text) == [
        # the anchor and 19 aliases make 4.0 MB, the 20th alias crosses 4 MiB
        f"2:{len('many: [') + 1 + len('*big, ') * 19}: this document expands to more than "
        f"{MAX_TEXT // 1024 // 1024} MiB of text through aliases (`*name`) or merges (`<<`); repeat less, or write "
        "the values out"
    ]


def test_merge_keys_that_double_at_each_level_are_refused(tmp_path: Path) -> None:
    lines = ["m0: &m0 {a: 1, b: 2}"]
    for level in range(1, 40):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}]}}")
    problems = validate_limited(tmp_path, "\n".join(lines) + "\n")
    assert len(problems) == 1
    assert f"this document expands to more than {MAX_VALUES:,} values" in problems[0]


def test_five_thousand_nested_lists_are_refused_where_the_limit_is_crossed(tmp_path: Path) -> None:
    text = "service: " + "[" * 5_000 + "]" * 5_000 + "\n"
    assert validate_limited(tmp_path, text) == [
        # the root mapping is the first level, so the MAX_DEPTH-th bracket is one too many
        f"1:{len('service: ') + MAX_DEPTH}: nested more than {MAX_DEPTH} levels deep; a policy needs far fewer, "
        "flatten this structure"
    ]


def test_five_thousand_nested_mappings_are_refused(tmp_path: Path) -> None:
    text = "service: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n"
    problems = validate_limited(tmp_path, text)
    assert len(problems) == 1 and f"nested more than {MAX_DEPTH} levels deep" in problems[0]


def test_an_alias_inside_its_own_anchor_is_refused_not_recursed_forever(tmp_path: Path) -> None:
    assert validate_limited(tmp_path, "service: &loop [1, *loop]\n") == [
        "1:20: this alias refers to a value that contains it; remove it"
    ]


def test_aliases_cannot_nest_deeper_than_the_depth_limit() -> None:
    lines = ["l0: &l0 [x]"] + [f"l{i}: &l{i} [*l{i - 1}]" for i in range(1, MAX_DEPTH + 2)]
    problems = errors_for("\n".join(lines) + "\n")
    assert len(problems) == 1 and f"nested more than {MAX_DEPTH} levels deep (aliases included)" in problems[0]


def test_an_impossible_date_is_located_not_a_traceback(policy_text: str) -> None:
    text = policy_text.replace("last_updated: 2026-11-25", "last_updated: 2025-02-30")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "2025-02-30" in row)
    assert errors_for(text) == [
        f"p.yaml:{line}:15: '2025-02-30' cannot be read as a date (day is out of range for month); write a date "
        "that exists, such as 2025-02-28, or quote it to mean text"
    ]


def test_a_complex_key_is_located_not_a_traceback() -> None:
    assert errors_for("service:\n  ? [a, b]\n  : 1\n") == [
        "p.yaml:2:5: a key must be a name, not a list (`? ` complex keys are not used in a policy)"
    ]


def test_a_mapping_as_a_key_is_located_too() -> None:
    assert errors_for("{a: 1}: x\n") == [
        "p.yaml:1:1: a key must be a name, not a mapping (`? ` complex keys are not used in a policy)"
    ]


def test_a_number_too_long_to_read_is_located() -> None:
    assert errors_for("version: " + "9" * 5_000 + "\n") == [
        f"p.yaml:1:10: '{'9' * 40}…' cannot be read as a whole number (too many digits); quote it to mean text"
    ]


def test_a_python_tag_is_refused_at_its_place() -> None:
    problems = errors_for("service: !!python/object/apply:os.system [ls]\n")
    assert problems == [
        "p.yaml:1:10: the tag `tag:yaml.org,2002:python/object/apply:os.system` is not used in a policy file; remove it"
    ]


def test_a_control_character_is_located_by_line_and_column() -> None:
    assert errors_for("version: 1\nservice: a\x01b\n") == [
        "p.yaml:2:11: the character U+0001 is not allowed in YAML; remove it or write it as an escape in quotes"
    ]


def test_invalid_utf8_is_located_at_the_bad_byte(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_bytes("version: 1\nservice: caf\u00e9 \xff\n".encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(policy)
    assert str(caught.value) == f"{policy}:2:15: not valid UTF-8 (byte 0xff); save the file as UTF-8"


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_bytes("version: 1\n".encode("utf-16"))
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(policy)
    assert str(caught.value) == f"{policy}:1:1: the file is UTF-16; save it as UTF-8"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, policy_text: str) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_bytes(b"\xef\xbb\xbf" + policy_text.encode("utf-8"))
    assert load_policy(policy).policy.service.name == "AetherAPI"


def test_a_byte_order_mark_inside_the_document_is_located(policy_text: str) -> None:
    text = policy_text.replace("\nchildren:\n", "\n\ufeffchildren:\n")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "\ufeffchildren" in row)
    problems = errors_for(text)
    assert f"p.yaml:{line}:1: \ufeffchildren: unknown key '\ufeffchildren'; did you mean 'children'?" in problems


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(policy)
    assert str(caught.value) == f"{policy}:1:1: larger than 256 KiB; a policy is a few kilobytes, check the file"


def test_merge_keys_still_work_and_the_mapping_own_keys_win() -> None:
    located = load_located("base: &base {a: 1, b: 2}\nuse: {<<: *base, b: 3}\n")
    assert located.value["use"] == {"a": 1, "b": 3}
    assert located.positions[("use", "b")] == (2, 18)
    assert located.positions[("use", "a")] == (1, 14)


def test_an_alias_in_a_list_is_located_where_it_is_used() -> None:
    located = load_located("x: &x [1]\nlist: [0, *x]\n")
    assert located.positions[("list", 1)] == (2, 11)


def test_a_syntax_error_in_an_unclosed_flow_mapping_names_where_it_opened() -> None:
    problems = errors_for("service: {name: a,\n  url: b\nversion: 1\n")
    assert problems[0] == (
        "p.yaml:1:10: YAML syntax error: the flow mapping opened here is not closed before line 3; close it with "
        "`}` or remove the opening bracket"
    )
    assert problems[1].startswith("p.yaml:3:8: YAML syntax error: while parsing a flow mapping")
    assert "(the construct opened on line 1, column 10)" in problems[1]


def test_a_huge_wrong_value_is_quoted_short_in_the_message(policy_text: str) -> None:
    text = policy_text.replace("minimum_age: 13", "minimum_age: " + "x" * 100_000)
    (problem,) = errors_for(text)
    assert problem.endswith("children.minimum_age: expected a whole number, got '" + "x" * 76 + "…")


def test_a_long_chain_of_merges_is_refused_at_the_merge_that_crosses_the_depth_limit() -> None:
    lines = ["m0: &m0 {a: 1}"] + [f"m{i}: &m{i} {{<<: *m{i - 1}, k{i}: 1}}" for i in range(1, 600)]
    problems = errors_for("\n".join(lines) + "\n")
    # m65 merges m64, which merges m63, … : its `<<` is the 65th level
    assert problems == [f"p.yaml:66:12: `<<` merges nest more than {MAX_DEPTH} deep; merge fewer levels"]


def test_merges_that_multiply_values_are_reported_at_a_merge_not_at_a_merged_value() -> None:
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(2_000)) + "}"]
    lines += [f"u{i}: {{<<: *m0}}" for i in range(100)]
    # each use costs about 4,000 values (2,000 keys and their values): u23's `<<`, on line 25, crosses 100,000
    assert errors_for("\n".join(lines) + "\n") == [
        f"p.yaml:25:{len('u23: {') + 1}: this document expands to more than {MAX_VALUES:,} values through aliases "
        "(`*name`) or merges (`<<`); repeat less, or write the values out"
    ]


def test_an_unclosed_quote_is_reported_where_it_opened_too() -> None:
    problems = errors_for('version: 1\nservice: "AetherAPI\nlast_updated: 2026-11-25\n')
    assert problems[0] == (
        'p.yaml:2:10: YAML syntax error: the quoted text opened here is not closed before line 4; close it with `"`'
    )
    assert problems[1].startswith("p.yaml:4:1: YAML syntax error: while scanning a quoted scalar")
