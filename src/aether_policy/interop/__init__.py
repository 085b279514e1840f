"""The policy in other tools' formats: `fideslang` (Fides' system and dataset manifests)."""
