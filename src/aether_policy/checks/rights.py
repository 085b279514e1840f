"""The `rights` check: every right the policy grants can be exercised, as the page says it is.

It reads the registry the page reads (`aether_policy.exercise`): a right an aether-policy command answers
passes; a right the service answers passes when `rights.how_to_exercise` names where to ask (an email
address or a URL); a complaint goes to a supervisory authority. Anything else is a promise no one can keep.
"""

from __future__ import annotations

from aether_policy import prose
from aether_policy.checks.findings import Finding, guarded
from aether_policy.exercise import ways
from aether_policy.loader import LoadedPolicy

CHECK = "rights"


@guarded(CHECK)
def rights_coverage(loaded: LoadedPolicy) -> list[Finding]:
    try:
        policy = prose.evaluate(loaded.policy)  # `{{ service.contact_email }}` is an address once evaluated
    except prose.ProseProblem:
        policy = loaded.policy  # the schema check reports the prose; judge what is written
    findings = []
    for way in ways(policy):
        if way.exercisable:
            continue
        line, column = loaded.located.position(("rights", "available", way.index))
        findings.append(
            Finding(
                CHECK,
                "error",
                loaded.file,
                line,
                column,
                f"'{way.right}' is granted, but no aether-policy command answers it and `rights.how_to_exercise` "
                "names no email address or URL to ask at; say where to ask there (e.g. "
                "`[{{ service.contact_email }}](mailto:{{ service.contact_email }})`) or stop granting it",
            )
        )
    return findings
