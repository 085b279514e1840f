"""Build the site's files in memory, byte-identical across runs, then write them.

Nothing but the policy goes in: no clock, no host name, no absolute path, so `site/` can be committed
and `aether-policy check` can compare a fresh build with it byte for byte.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from aether_policy import prose
from aether_policy._validation import format_path
from aether_policy.exceptions import PolicyError, ProseError
from aether_policy.loader import LoadedPolicy
from aether_policy.model import Policy
from aether_policy.page_sections import FIXED, RIGHTS, page_sections
from aether_policy.render import phrases
from aether_policy.render.markdown import markdown_block, markdown_inline, markdown_text

PAGE = "privacy/index.html"
MARKDOWN = "privacy.md"
JSON = "privacy.json"


def default_templates_dir() -> Path:
    """The page templates that ship inside the package (mapped there from the repository's `templates/`).

    An editable install has no copy inside the package: it reads the repository's `templates/` beside the source.
    """
    packaged = importlib.resources.files("aether_policy") / "templates"
    if isinstance(packaged, Path) and (packaged / "page.html.j2").is_file():
        return packaged
    source = Path(__file__).resolve().parents[3] / "templates"
    if (source / "page.html.j2").is_file():
        return source
    raise PolicyError("the default page templates are missing from this installation; reinstall aether-policy")


def override_templates_dir(templates: Path | None) -> Path | None:
    """Where a project's own templates are: `--templates`, else `./templates` when it exists, else none."""
    if templates is not None:
        if not templates.is_dir():
            raise PolicyError(f"templates directory {templates} does not exist; create it or leave out --templates")
        return templates
    local = Path("templates")
    return local if local.is_dir() else None


@dataclass(frozen=True)
class SiteFiles:
    files: Mapping[str, bytes]
    digest: str


def _environment(templates: Path | None) -> jinja2.Environment:
    """A project's templates override the packaged defaults file by file: a repository that only wants its own
    `style.css` ships only that file, and every template it leaves out comes from the package."""
    search = [default_templates_dir()]
    override = override_templates_dir(templates)
    if override is not None and override.resolve() != search[0].resolve():
        search.insert(0, override)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(path) for path in search]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=markdown_block,
        md_inline=markdown_inline,
        join_and=prose.join_and,
        month_year=prose.month_year,
        long_date=prose.long_date,
        extract=lambda key, mapping: mapping[key],
    )
    env.globals.update(
        field_list=phrases.field_list,
        retention_sentence=phrases.retention_sentence,
        recipient_receives=phrases.recipient_receives,
        cookie_lifetime=phrases.cookie_lifetime,
        cookie_kind=phrases.cookie_kind,
        cookie_consent=phrases.cookie_consent,
        notify_sentence=phrases.notify_sentence,
        acceptance_sentence=phrases.acceptance_sentence,
        applies_in_sentence=phrases.applies_in_sentence,
        processed_by=phrases.processed_by,
        legal_basis=phrases.legal_basis,
        recipient_role=phrases.recipient_role,
        recipient_where=phrases.recipient_where,
        rights_list=phrases.rights_list,
        response_sentence=phrases.response_sentence,
    )
    return env


def build_site(loaded: LoadedPolicy, templates: Path | None = None) -> SiteFiles:
    """Render every output file; raises PolicyError with the template's own line on a template bug."""
    try:
        policy = prose.evaluate(loaded.policy)
    except prose.ProseProblem as problem:
        raise ProseError(f"{loaded.file}: {format_path(problem.path)}: {problem.message}") from None
    env = _environment(templates)
    context = {"policy": policy, "digest": loaded.digest, "groups": _groups(policy), "page": _page(policy)}
    try:
        page = env.get_template("page.html.j2").render(context)
        markdown = env.overlay(finalize=markdown_text).get_template("privacy.md.j2").render(context)
    except jinja2.TemplateError as error:
        where = f"{error.filename}:{error.lineno}" if isinstance(error, jinja2.TemplateSyntaxError) else "template"
        raise PolicyError(f"{where}: {error}") from None
    data = {"digest": loaded.digest, "last_updated": policy.last_updated.isoformat(), "policy": _public(policy)}
    return SiteFiles(
        files={
            PAGE: page.encode("utf-8"),
            MARKDOWN: markdown.encode("utf-8"),
            JSON: (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"),
        },
        digest=loaded.digest,
    )


def _public(policy: Policy) -> dict[str, Any]:
    """The policy as published: everything but the abuse-detection patterns, which would teach evasion.

    The digest still covers them, so the page and the gateway agree on them without revealing them.
    """
    data: dict[str, Any] = policy.model_dump(mode="json")
    for category in data["categories"].values():
        for exception in (category.get("storage") or {}).get("exceptions", []):
            if exception.get("patterns"):
                exception["patterns"] = {name: "(not published)" for name in exception["patterns"]}
    return data


def _page(policy: Policy) -> list[dict[str, Any]]:
    """The sections in page order, each with its anchor and the partial that prints its rules (extras have none)."""
    return [
        {
            "key": key,
            "anchor": key.replace("_", "-"),
            "section": section,
            "partial": f"sections/{key}.html.j2" if key in (*FIXED, RIGHTS) else None,
        }
        for key, section in page_sections(policy)
    ]


def _groups(policy: Policy) -> dict[str, list[str]]:
    """Category names by page subsection, in the order the YAML lists them."""
    groups: dict[str, list[str]] = {key: [] for key in policy.sections.information_we_collect.subsections}
    for name, category in policy.categories.items():
        groups.setdefault(category.group, []).append(name)
    return groups


def write_site(site: SiteFiles, out: Path) -> list[Path]:
    """Write the files, each atomically (a reader never sees half a page); returns those that changed."""
    changed = []
    for relative, content in sorted(site.files.items()):
        target = out / relative
        if target.is_file() and target.read_bytes() == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(content)
        temporary.replace(target)
        changed.append(target)
    return changed
