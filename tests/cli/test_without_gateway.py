"""`build`, `validate` and `check` work without the gateway extra; gateway commands say how to install it.

Each test runs the real CLI in a fresh interpreter whose import system refuses every module of the `gateway`
extra, as if it had never been installed: importing any of them from `build` or `check` fails the test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aether_policy._extras import GATEWAY_MODULES
from tests.conftest import ROOT
from tests.repos import first_commit

WITHOUT_GATEWAY = f"""
import sys

BLOCKED = {set(GATEWAY_MODULES)!r}


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
from aether_policy.cli import main

main(prog_name="aether-policy")
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_GATEWAY, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "policies", tmp_path / "policies", ignore=shutil.ignore_patterns("examples"))
    return tmp_path


def test_validate_and_build_run_without_the_gateway_stack(project: Path) -> None:
    assert run(project, "validate").returncode == 0
    built = run(project, "build")
    assert built.returncode == 0, built.stderr
    assert (project / "site" / "privacy" / "index.html").is_file()


def test_validate_refuses_a_pattern_re2_cannot_run_without_the_gateway_stack(project: Path) -> None:
    """RE2 is a core dependency: the pattern check runs where a policy repository runs `validate`."""
    policy = project / "policies" / "aetherapi.yaml"
    shipped = "            malware_request: '"
    text = policy.read_text(encoding="utf-8")
    assert shipped in text
    policy.write_text(text.replace(shipped, "            lookaround: 'ransom(?=ware)'\n" + shipped), encoding="utf-8")
    validated = run(project, "validate")
    assert validated.returncode == 1
    assert ".patterns.lookaround: not a pattern RE2 can run (invalid perl operator: (?=)" in validated.stderr
    assert "Traceback" not in validated.stderr


def test_check_passes_without_the_gateway_stack_and_says_which_checks_it_skipped(project: Path) -> None:
    assert run(project, "build").returncode == 0
    checked = run(project, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok   schema" in checked.stdout and "ok   site-freshness" in checked.stdout
    for name in ("gateway-conformance", "promise-coverage"):
        assert (
            f"skip {name}: needs the gateway stack, and starlette is not installed; install it with: pip install 'aether-policy[gateway]'"
            in checked.stdout
        )


def test_check_still_fails_a_stale_site_without_the_gateway_stack(project: Path) -> None:
    assert run(project, "build").returncode == 0
    page = project / "site" / "privacy.md"
    page.write_text(page.read_text(encoding="utf-8") + "tampered\n", encoding="utf-8")
    checked = run(project, "check")
    assert checked.returncode == 1
    assert "site-freshness" in checked.stdout


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["serve"], "serve"),
        (["keys", "list"], "keys list"),
        (["keys", "create", "--account", "acme"], "keys create"),
        (["accounts", "list"], "accounts list"),
        (["review", "list"], "review list"),
        (["retention", "run", "--dry-run"], "retention run"),
    ],
)
def test_a_gateway_command_without_the_gateway_stack_names_the_install_command(
    project: Path, args: list[str], command: str
) -> None:
    result = run(project, *args)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: `aether-policy {command}` needs the gateway stack, and starlette is not installed; "
        "install it with: pip install 'aether-policy[gateway]'\n"
    )
    assert not (project / "aether.db").exists()


def test_init_build_and_check_pass_in_a_fresh_repository_without_the_gateway_stack(tmp_path: Path) -> None:
    assert run(tmp_path, "init", "--service", "Acme AI").returncode == 0
    assert run(tmp_path, "build").returncode == 0
    first_commit(tmp_path, "start")
    checked = run(tmp_path, "check", "--base", "HEAD")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok   change-control" in checked.stdout and "skip promise-coverage" in checked.stdout
