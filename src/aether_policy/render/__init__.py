"""Render the policy into the published page, its Markdown twin and machine-readable JSON."""

from aether_policy.render.site import SiteFiles, build_site, default_templates_dir, override_templates_dir, write_site

__all__ = ["SiteFiles", "build_site", "default_templates_dir", "override_templates_dir", "write_site"]
