"""Explanations as text: one line per decision, each ending with the rule that made it."""

from __future__ import annotations

from typing import Any


def request_text(found: dict[str, Any], page: str) -> str:
    request = found["request"]
    marked = (" (marked)" if request["account_marked"] else "") + (" (deleted)" if request["account_deleted"] else "")
    lines = [
        f"request: POST {request['endpoint']} model {request['model'] or '-'} as account "
        f"'{request['account']}'{marked}: the gateway answers {request['status']}",
        "",
        "usage event recorded:",
    ]
    for column in found["usage"]["recorded"]:
        lines.append(
            f"  {column['column']} = {column['value']!r}  allowed by {column['rule']}; deleted {column['delete_at']} "
            f"by {column['retention']} ({page}{column['page']})"
        )
    if found["usage"]["never_recorded"]:
        lines.append(f"  never recorded: {', '.join(found['usage']['never_recorded'])} (no policy field allows them)")
    content = found["content"]
    lines += ["", "content:"]
    if not content["flagged"]:
        lines.append(f"  not flagged, not stored: {content['rule']}")
    else:
        for reason in content["reasons"]:
            lines.append(f"  flagged: {reason['reason']}  by {reason['rule']}")
        lines.append(
            f"  kept sealed (AES-256-GCM) until {content['until']}, then deleted by {content['retention']} "
            f"({page}{content['page']})"
        )
    lines += ["", "sent to providers:"]
    if not found["egress"]:
        lines.append("  nothing: the request is not forwarded")
    for egress in found["egress"]:
        lines.append(
            f"  {egress['recipient']} at {egress['host']}{egress['path']} (allowed by {egress['allowed_by']}), "
            f"which receives {', '.join(egress['receives'])} ({page}{egress['page']})"
        )
        lines.append(f"    body: {', '.join(egress['body_fields'])}")
        lines.append(f"    headers: {', '.join(egress['headers_sent'])}")
    if found["caller_headers"]:
        lines += ["", "your headers (the gateway forwards none; were an app to forward them, the egress guard):"]
        for header in found["caller_headers"]:
            lines.append(f"  {header['header']}: {header['guard']}: {header['why']}")
    return "\n".join(lines) + "\n"


def field_text(found: list[dict[str, Any]], page: str) -> str:
    lines: list[str] = []
    for entry in found:
        collected = entry["collected"]
        if lines:
            lines.append("")
        lines.append(f"{entry['data']} ({entry['title']})")
        how = collected["stored_as"]
        if collected["derived_from"]:
            how += f" from {collected['derived_from']}"
            if collected["keeps_only"]:
                how += f", keeping only {', '.join(collected['keeps_only'])}"
        lines.append(
            f"  collected: {collected['source']}, stored as {how}, for {', '.join(collected['purposes'])}; "
            f"{collected['gateway']}  [{collected['rule']} at {collected['at']}] ({page}{collected['page']})"
        )
        retention = entry["retention"]
        if retention is None:
            lines.append("  kept: no retention rule covers it")
        else:
            lines.append(
                f"  kept: {retention['keep_for']} after {retention['after'].replace('_', ' ')}; its job "
                f"{retention['job']}  [{retention['rule']} at {retention['at']}] ({page}{retention['page']})"
            )
        for storage in entry.get("storage", []):
            detectors = f" by {', '.join(storage['detectors'])}" if storage["detectors"] else ""
            lines.append(
                f"  stored only when {storage['when']}{detectors}, under {storage['retention']}, "
                f"for {storage['purpose']}{', reviewed' if storage['reviewed'] else ''}  "
                f"[{storage['rule']} at {storage['at']}]"
            )
        if not entry["recipients"]:
            lines.append("  received by: no recipient")
        for recipient in entry["recipients"]:
            when = ", only when required by law" if recipient["when"] == "required_by_law" else ""
            lines.append(
                f"  received by: {recipient['title']} (as {', '.join(recipient['receives'])}{when})  "
                f"[{recipient['recipient']} at {recipient['at']}] ({page}{recipient['page']})"
            )
        for header in entry["forwarded_headers"]:
            reach = ", ".join(header["guard_lets_it_reach"]) or "no AI provider"
            lines.append(f"  header {header['header']} carries it; the egress guard lets it reach: {reach}")
        for cookie in entry.get("cookies", []):
            lines.append(f"  cookie {cookie['cookie']}: max age {cookie['max_age']}  [{cookie['rule']}]")
        lines.append(f"  encrypted at rest: {'yes' if entry['encrypted_at_rest'] else 'no'}")
    return "\n".join(lines) + "\n"
