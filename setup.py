"""Packaging beyond what pyproject.toml can say: the repository's `templates/` ships inside the package.

`templates/` is the one copy of the default page templates. It is mapped into the wheel (and sdist) as
`aether_policy/templates/`, where `aether_policy.render` finds it with importlib.resources; a policy repository's
own `templates/` overrides it file by file. An editable install reads the repository's `templates/` directly.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "aether_policy.templates"],
    package_dir={"": "src", "aether_policy.templates": "templates"},
)
