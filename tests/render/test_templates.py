"""The page templates ship in the package; a project's own `templates/` overrides them file by file."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from aether_policy import load_policy
from aether_policy.cli import main
from aether_policy.exceptions import PolicyError
from aether_policy.render import build_site, default_templates_dir
from aether_policy.render.site import MARKDOWN, PAGE
from tests.conftest import POLICY_FILE, ROOT


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no templates/ of its own."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_default_templates_are_this_repositorys_templates_directory() -> None:
    # Editable here; in a wheel the same files sit in aether_policy/templates (the wheel smoke test in .ci/run).
    assert default_templates_dir().resolve() == (ROOT / "templates").resolve()


def test_a_project_without_templates_builds_the_same_site_from_the_packaged_defaults(elsewhere: Path) -> None:
    loaded = load_policy(POLICY_FILE)
    assert build_site(loaded).files == build_site(loaded, ROOT / "templates").files


def test_a_project_template_replaces_only_the_packaged_template_of_the_same_name(elsewhere: Path) -> None:
    (elsewhere / "templates").mkdir()
    (elsewhere / "templates" / "style.css").write_text("body { color: rebeccapurple; }\n", encoding="utf-8")
    loaded = load_policy(POLICY_FILE)
    ours, default = build_site(loaded).files, build_site(loaded, ROOT / "templates").files
    assert "rebeccapurple" in ours[PAGE].decode() and "rebeccapurple" not in default[PAGE].decode()
    assert ours[MARKDOWN] == default[MARKDOWN]  # the Markdown template was not overridden
    assert b'id="information-we-collect"' in ours[PAGE]  # nor were the section partials


def test_an_overriding_section_partial_is_used_by_the_packaged_page(elsewhere: Path) -> None:
    (elsewhere / "custom" / "sections").mkdir(parents=True)
    (elsewhere / "custom" / "sections" / "children.html.j2").write_text("<p>No children here.</p>\n", encoding="utf-8")
    page = build_site(load_policy(POLICY_FILE), elsewhere / "custom").files[PAGE].decode()
    assert "<p>No children here.</p>" in page


def test_a_templates_option_naming_no_directory_is_a_clear_error(elsewhere: Path) -> None:
    with pytest.raises(PolicyError, match="templates directory nowhere does not exist"):
        build_site(load_policy(POLICY_FILE), Path("nowhere"))
    result = CliRunner().invoke(main, ["build", "--policy", str(POLICY_FILE), "--templates", "nowhere"])
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        1,
        "Error: templates directory nowhere does not exist; create it or leave out --templates",
    )


def test_every_file_in_templates_is_declared_package_data_so_the_wheel_ships_it() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["aether_policy.templates"]
    files = [p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()]
    assert files
    unshipped = [
        f
        for f in files
        if not any(fnmatch.fnmatch(f, pattern) and f.count("/") == pattern.count("/") for pattern in patterns)
    ]
    assert unshipped == []
