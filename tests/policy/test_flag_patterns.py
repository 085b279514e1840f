"""Flag patterns run on RE2: a pattern that would backtrack cannot stall the gateway, and a pattern RE2 cannot
run is a located problem when the policy is validated, not a surprise at the first request."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from aether_policy import PolicyLoadError, load_policy_text
from aether_policy.flagger import PatternDetector
from tests.helpers import loopback_policy_text, shipped_plan

SHIPPED_PATTERNS = "            malware_request: '\\b(write|build|create) (a |an )?(ransomware|keylogger)\\b'\n"


def problems_with_pattern(pattern: str) -> list[str]:
    text = loopback_policy_text()
    assert SHIPPED_PATTERNS in text
    text = text.replace(SHIPPED_PATTERNS, SHIPPED_PATTERNS + f"            evil: '{pattern}'\n")
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_text(text, "p.yaml")
    return [str(p) for p in caught.value.problems]


def line_of(pattern: str) -> int:
    lines = loopback_policy_text().replace(SHIPPED_PATTERNS, SHIPPED_PATTERNS + f"            evil: '{pattern}'\n")
    return next(i for i, line in enumerate(lines.splitlines(), 1) if line.startswith("            evil:"))


SIZE_FIX = "RE2 bounds a pattern's size (at most 1000 repetitions of anything); use fewer or shorter repetitions"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(ransom)ware \1", "invalid escape sequence: \\1"),
        (r"ransom(?=ware)", "invalid perl operator: (?="),
        (r"(?<!anti-)malware", "invalid perl operator: (?<!"),
    ],
)
def test_a_pattern_re2_cannot_run_is_a_located_problem_naming_the_key_and_the_fix(pattern: str, reason: str) -> None:
    (problem,) = problems_with_pattern(pattern)
    line = line_of(pattern)
    assert problem == (
        f"p.yaml:{line}:13: categories.prompt_content.storage.exceptions[0].patterns.evil: "
        f"not a pattern RE2 can run ({reason}): policy patterns run on RE2 (linear time), which has no "
        "backreferences (\\1) or lookarounds ((?=, (?!, (?<=, (?<!); rewrite the pattern without them"
    )


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [("x{1001}", "invalid repetition size: {1001}"), ("[\\pL\\pN]{500}", "pattern too large - compile failed")],
)
def test_a_pattern_too_large_for_re2_is_a_located_problem_saying_how_to_shrink_it(pattern: str, reason: str) -> None:
    (problem,) = problems_with_pattern(pattern)
    assert problem == (
        f"p.yaml:{line_of(pattern)}:13: categories.prompt_content.storage.exceptions[0].patterns.evil: "
        f"not a pattern RE2 can run ({reason}): {SIZE_FIX}"
    )


def test_patterns_that_each_fit_but_not_together_still_flag_each_by_name() -> None:
    """Five of these compile alone, not as one alternation: the detector scans with each instead."""
    patterns = {f"long{i}": f"[\\pL\\pN]{{100}}{i}" for i in range(5)}
    detector = PatternDetector(patterns)
    assert detector.inspect("é" * 100 + "3", b"") == "pattern:long3"
    assert detector.inspect("é" * 99 + "3", b"") is None


def test_a_catastrophic_pattern_is_accepted_because_re2_runs_it_in_linear_time() -> None:
    text = loopback_policy_text().replace(SHIPPED_PATTERNS, SHIPPED_PATTERNS + "            evil: '(a+)+$'\n")
    assert load_policy_text(text, "p.yaml").policy is not None


def test_a_catastrophic_pattern_gives_its_verdict_on_a_prompt_that_would_backtrack_for_ever() -> None:
    """Python's `re` takes about 2**n steps for `(a+)+$` against n letters and a `!` (n = 64: longer than the
    test run) and holds the GIL meanwhile, so the scan runs in a child process that the test can give up on:
    the old engine fails this test instead of hanging it. The limit guards against a hang; it is no speed bound."""
    scan = (
        "from aether_policy.flagger import PatternDetector\n"
        "d = PatternDetector({'evil': '(a+)+$'})\n"
        "print(d.inspect('a' * 64 + '!', b''), d.inspect('a' * 64, b''))\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", scan], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the pattern detector backtracked: still scanning 65 characters after a minute")
    assert (done.returncode, done.stdout) == (0, "None pattern:evil\n"), done.stderr


SAMPLES = (
    "please write a ransomware for me",
    "Write A Ransomware",
    "CREATE AN KEYLOGGER today",
    "build ransomware",
    "rewrite a ransomware",  # no word boundary before `write`
    "write a ransomwares",  # none after `ransomware`
    "a combo list of accounts",
    "a combolist",
    "credential  stuffing",
    "Credential Stuffing!",
    "écrire: write a keylogger",
    "写 write a keylogger 写",
    "",
)


@pytest.mark.parametrize("name", sorted(shipped_plan().patterns))
def test_each_shipped_pattern_flags_exactly_what_pythons_re_flagged(name: str) -> None:
    pattern = shipped_plan().patterns[name]
    detector = PatternDetector({name: pattern})
    for sample in SAMPLES:
        expected = f"pattern:{name}" if re.search(pattern, sample, re.IGNORECASE) else None
        assert detector.inspect(sample, b"") == expected, sample


def test_word_edges_are_ascii_only_so_other_scripts_are_matched_with_unicode_classes() -> None:
    """The one difference from `re` that matches silently instead of failing validation, as documented."""
    assert PatternDetector({"word": r"\bпароль\b"}).inspect("мой пароль тут", b"") is None
    assert PatternDetector({"letters": r"(^|\PL)пароль(\PL|$)"}).inspect("мой ПАРОЛЬ тут", b"") == "pattern:letters"


CLASS_PATTERNS = (
    r"\d{4}[ -]?\d{4}",
    r"[\d-]{6}",
    r"\w+@\w+",
    r"[\w.]+@[\w.]+",
    r"pass\s*word",
    r"[\s]x",
    r"\D\d",
    r"\W\w",
    r"\S+\s",
    r"\\d",  # an escaped backslash and a `d`: no class at all
    r"[]\d]x",  # `]` first in a class is a literal
    r"[^\d]x",
    r"[a\d]+9",
)
CLASS_SAMPLES = (
    "card ４１１１ １１１１ please",  # fullwidth digits
    "card ٤١١١-١١١١ please",  # Arabic-Indic digits
    "card 4111 1111 please",
    "почта@пример",
    "naïve.user@exämple.org",
    "pass\u00a0word",  # a no-break space
    "pass\u3000word",  # an ideographic space
    "a\\d b ]x 7x zx éé9",
    "",
)


@pytest.mark.parametrize("pattern", CLASS_PATTERNS)
def test_perl_classes_mean_what_they_meant_under_pythons_re_in_every_script(pattern: str) -> None:
    """A fullwidth or Arabic-Indic card number, a Cyrillic address, a no-break space: `re` matched them with
    `\\d`, `\\w`, `\\s`, and a caller must not slip past a policy's pattern by changing script."""
    detector = PatternDetector({"p": pattern})
    for sample in CLASS_SAMPLES:
        expected = "pattern:p" if re.search(pattern, sample, re.IGNORECASE) else None
        assert detector.inspect(sample, b"") == expected, sample
