"""`python -m aether_policy.cli`, the same as the `aether-policy` script."""

from aether_policy.cli import main

main()
