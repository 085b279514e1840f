"""Write a policy back out as YAML: the inverse of the loader, used for round trips and normalising files."""

from __future__ import annotations

import yaml

from aether_policy.model import Policy

SCHEMA_COMMENT = "# yaml-language-server: $schema=policy.schema.json\n"


class _Dumper(yaml.SafeDumper):
    """Double-quotes strings PyYAML would otherwise write in a form it cannot read back.

    PyYAML writes NEL and the Unicode line and paragraph separators raw in plain and single-quoted
    scalars, and its reader then takes them as line breaks: only double quotes escape them.
    """


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(ch in value for ch in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def to_yaml(policy: Policy, *, sort_keys: bool = False, flow: bool = False) -> str:
    body = yaml.dump(
        policy.model_dump(mode="json"),
        Dumper=_Dumper,
        sort_keys=sort_keys,
        allow_unicode=True,
        default_flow_style=flow,
        width=100,
    )
    return SCHEMA_COMMENT + body
