"""`aether-policy init`: a new policy repository that validates, builds and checks out of the box.

The starter files ship in the package (`aether_policy/scaffold/`). The starter policy is filled in with the
service's name, URL and contact address and loaded before anything is written, so a bad value is refused with
the option that carries it, and a repository is never left with a policy that does not load.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from aether_policy.exceptions import PolicyError, PolicyLoadError
from aether_policy.loader import load_policy_text
from aether_policy.render.site import default_templates_dir
from aether_policy.schema import policy_json_schema

POLICY = "policies/policy.yaml"
SCHEMA = "policies/policy.schema.json"
WORKFLOW = ".github/workflows/privacy-policy.yml"
PRE_COMMIT = ".pre-commit-config.yaml"
GITIGNORE = ".gitignore"
# Which option fills which policy key, to answer a bad value with the option the user typed.
_OPTION_OF = {"service.name": "--service", "service.url": "--url", "service.contact_email": "--email"}


@dataclass(frozen=True)
class Starter:
    service: str
    url: str
    contact_email: str
    today: date


def _scaffold(name: str) -> str:
    return (importlib.resources.files("aether_policy") / "scaffold" / name).read_text(encoding="utf-8")


def _version() -> str:
    return importlib.metadata.version("aether-policy")


def starter_policy(starter: Starter) -> str:
    """The starter policy's text; raises PolicyError naming the option when a value makes it invalid."""
    if not starter.service.strip() or any(ord(c) < 32 or ord(c) == 127 for c in starter.service):
        raise PolicyError("--service: write the service's name on one line, without control characters")
    text = _scaffold("policy.yaml")
    # Each value is a whole YAML scalar, written as a JSON string (valid YAML): quotes, colons, '#' or a
    # newline in a value stay inside it and cannot add keys to the policy.
    for token, value in (
        ("__SERVICE_NAME__", starter.service),
        ("__SERVICE_URL__", starter.url),
        ("__CONTACT_EMAIL__", starter.contact_email),
    ):
        text = text.replace(token, json.dumps(value, ensure_ascii=False))
    text = text.replace("__TODAY__", starter.today.isoformat())
    try:
        load_policy_text(text, POLICY)
    except PolicyLoadError as error:
        for problem in error.problems:
            if problem.path in _OPTION_OF:
                raise PolicyError(f"{_OPTION_OF[problem.path]}: {problem.message}") from None
        raise
    return text


def starter_files(starter: Starter) -> dict[str, str]:
    """Every file init writes, by path relative to the repository root."""
    version = _version()
    return {
        POLICY: starter_policy(starter),
        SCHEMA: json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n",
        WORKFLOW: _scaffold("workflow.yml").replace("__VERSION__", version),
        PRE_COMMIT: _scaffold("pre-commit-config.yaml").replace("__VERSION__", version),
    }


def scaffold(root: Path, starter: Starter, *, force: bool = False, templates: bool = False) -> list[Path]:
    """Write the starter repository into `root`; returns what was written. Writes nothing if it would clobber.

    Existing files are refused unless `force`; another policy in `policies/` is always refused, because
    commands would no longer know which policy to use. `.gitignore` is extended, never replaced.
    """
    if root.exists() and not root.is_dir():
        raise PolicyError(f"{root} is a file; init needs a directory")
    files = starter_files(starter)
    if templates:
        source = default_templates_dir()
        for path in sorted(source.rglob("*")):
            if path.is_file():
                files[f"templates/{path.relative_to(source).as_posix()}"] = path.read_text(encoding="utf-8")
    others = sorted(p.name for p in (root / "policies").glob("*.y*ml") if p.is_file() and p.name != Path(POLICY).name)
    if others:
        raise PolicyError(
            f"{root / 'policies'} already holds a policy ({', '.join(others)}); nothing was written. "
            "Run init in a new directory"
        )
    clobbered = [name for name in files if (root / name).exists()]
    if clobbered and not force:
        raise PolicyError(
            f"{root} already has {', '.join(clobbered)}; nothing was written (pass --force to overwrite them)"
        )
    written = []
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        written.append(target)
    if _extend_gitignore(root / GITIGNORE):
        written.append(root / GITIGNORE)
    return written


def _extend_gitignore(path: Path) -> bool:
    """Add the lines that keep the gateway's database and key out of git; True if the file changed."""
    ours = _scaffold("gitignore").splitlines()
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    present = {line.strip() for line in current.splitlines()}
    missing = [line for line in ours if line.strip() not in present and not line.startswith("#")]
    if not missing:
        return False
    lines = [line for line in ours if line.startswith("#")] + missing
    prefix = current if not current or current.endswith("\n") else current + "\n"
    path.write_text(prefix + ("\n" if prefix else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return True
