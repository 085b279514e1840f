"""Read a policy file into a validated `Policy`, or explain every problem with file, line and fix."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path as FsPath

from pydantic import ValidationError

from aether_policy import prose
from aether_policy._partial import partial_policy
from aether_policy._positions import Located
from aether_policy._validation import format_path, parse_yaml, read_yaml_file, validation_problems
from aether_policy.digest import policy_digest
from aether_policy.exceptions import PolicyLoadError, Problem
from aether_policy.model import Policy
from aether_policy.references import cross_reference_problems, partial_reference_problems

Path = tuple[str | int, ...]
DEFAULT_POLICY_DIR = FsPath("policies")


@dataclass(frozen=True)
class LoadedPolicy:
    """A valid policy with the file it came from and where each of its keys is written."""

    policy: Policy
    file: str
    located: Located

    @cached_property
    def digest(self) -> str:
        return policy_digest(self.policy)

    def locate(self, path: Path, message: str) -> Problem:
        return _locate(self.located, self.file, path, message)


def default_policy_files(directory: FsPath = DEFAULT_POLICY_DIR) -> list[FsPath]:
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def find_policy(path: FsPath | None = None) -> FsPath:
    """The policy to use: the given path, or the only `policies/*.yaml` under the current directory."""
    if path is not None:
        return path
    found = default_policy_files()
    if len(found) == 1:
        return found[0]
    where = DEFAULT_POLICY_DIR.resolve()
    if not found:
        raise PolicyLoadError(
            [
                Problem(
                    str(DEFAULT_POLICY_DIR),
                    1,
                    1,
                    "",
                    f"no policy file found in {where}; pass one with --policy",
                )
            ]
        )
    names = ", ".join(p.name for p in found)
    raise PolicyLoadError(
        [Problem(str(DEFAULT_POLICY_DIR), 1, 1, "", f"several policies ({names}); choose one with --policy")]
    )


def load_policy(path: FsPath | str) -> LoadedPolicy:
    file = str(path)
    return load_policy_text(read_yaml_file(FsPath(path), file), file)


def load_policy_text(text: str, file: str = "<policy>") -> LoadedPolicy:
    """Parse, validate and cross-check one policy document; raises PolicyLoadError listing every problem.

    Schema, reference and prose problems are reported together: when the schema fails, the references are
    still checked over the parts that validated, and the prose is still checked for what it may contain.
    """
    located = parse_yaml(text, file)
    if not isinstance(located.value, dict):
        raise PolicyLoadError(
            [
                Problem(
                    file,
                    1,
                    1,
                    "",
                    "a policy is a YAML mapping with keys such as `service`, `categories`, `retention`",
                )
            ]
        )
    try:
        policy = Policy.model_validate(located.value)
    except ValidationError as error:
        found = validation_problems(error, located, file, Policy)
        partial = partial_policy(located.value)
        references = partial_reference_problems(partial.policy, partial.present, partial.broken)
        found += [_locate(located, file, path, message) for path, message in references]
        found += [_prose_problem(p, located, file) for p in prose.static_problems(located.value)]
        raise PolicyLoadError(found) from None
    loaded = LoadedPolicy(policy, file, located)
    found = [loaded.locate(path, message) for path, message in cross_reference_problems(policy)]
    found += [_prose_problem(p, located, file) for p in prose.problems(policy)]
    if found:
        raise PolicyLoadError(found)
    return loaded


def _locate(located: Located, file: str, path: Path, message: str) -> Problem:
    line, column = located.position(path)
    return Problem(file, line, column, format_path(path), message)


def _prose_problem(problem: prose.ProseProblem, located: Located, file: str) -> Problem:
    line, column = located.position(problem.path)
    if problem.path in located.block_scalars:
        line, column = line + problem.line, 1  # the text starts on the line after `key: |`
    return Problem(file, line, column, format_path(problem.path), problem.message)
