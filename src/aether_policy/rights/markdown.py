"""An access export as Markdown, for the person who asked: one section per category, every item listed.

Values are printed JSON-encoded inside code spans, so a stored value (a prompt, a mark reason, an operator's
reason) cannot break out of its line, and neither raw HTML (`<img onerror=…>`) nor a link (`[x](javascript:…)`)
in it becomes markup in whatever renders the file: a code span shows its text as written.
"""

from __future__ import annotations

import json
import re
from typing import Any

LINE_BREAKS = "\r\n\t\v\f\x85\u2028\u2029"


def _value(value: Any) -> str:
    """A value JSON-encoded in a code span, every character kept: the fence is one backtick longer than the
    longest run inside, and a space pads text that starts or ends with a backtick or a space (CommonMark strips
    one from each side)."""
    text = "".join(" " if c in LINE_BREAKS else c for c in json.dumps(value, ensure_ascii=False))
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code(text: str) -> str:
    """Inline code that stays on its line and inside its backticks, whatever the stored text holds."""
    return "`" + "".join(" " if c in LINE_BREAKS else c for c in text).replace("`", "'") + "`"


def export_markdown(export: dict[str, Any]) -> str:
    subject, policy, access = export["subject"], export["policy"], export["access"]
    lines = [
        f"# Data held about account {_code(subject['account'])}",
        "",
        f"Account id {_code(subject['account_id'])}, exported {export['generated_at']} under {policy['service']}'s "
        f"privacy policy version {policy['version']} (digest {_code(policy['digest'])}, {policy['page']}).",
        "",
        f"- Kept content: {access['content']}" + (f" (reason: {_value(access['reason'])})" if access["reason"] else ""),
        f"- Audit: {access['audit']}",
    ]
    lines += [f"- Not exported: {note}" for note in export["not_exported"]]
    for group in export["categories"]:
        lines += ["", f"## {group['title']} ({_code(group['category'])})", ""]
        if group["page"]:
            purposes = ", ".join(_code(p) for p in group["purposes"])
            lines.append(f"- Collected: {group['collected']}, for {purposes} ({policy['page']}{group['page']})")
        retention = group["retention"]
        if retention:
            lines.append(
                f"- Kept: {retention['keep_for']} after {retention['after'].replace('_', ' ')} "
                f"({_code(retention['rule'])}, {policy['page']}{retention['page']})"
            )
        else:
            lines.append("- Kept: no retention rule of the current policy covers it")
        receivers = [
            f"{r['title']} ({', '.join(r['receives'])}{', only when required by law' if r['when'] != 'always' else ''})"
            for r in group["recipients"]
        ]
        lines.append(f"- Received by: {'; '.join(receivers) if receivers else 'no recipient'}")
        lines += ["", f"{len(group['items'])} item(s):", ""]
        for item in group["items"]:
            deleted = item["delete_at"] or item.get("deletion", "-")
            values = ", ".join(f"{key}={_value(value)}" for key, value in item["values"].items())
            kept_by = f", kept by {_code(item['kept_by'])}" if item.get("kept_by") else ""
            lines.append(f"- {item['kind']} {_code(str(item['id']))}{kept_by}, deleted by {deleted}: {values}")
    return "\n".join(lines) + "\n"
