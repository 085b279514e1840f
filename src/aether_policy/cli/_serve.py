"""`serve`: the bundled gateway under uvicorn."""

from __future__ import annotations

from pathlib import Path

import click

from aether_policy.cli._common import config_option, load, policy_option, require_gateway, user_errors
from aether_policy.cli._store_commands import db_option


def _proxies(value: str) -> str:
    """Refuse a typo before anything starts: a proxy list that does not parse would trust nobody silently."""
    from aether_policy.derive import TrustedProxies

    try:
        TrustedProxies(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.command()
@policy_option
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@db_option
@click.option(
    "--max-body-bytes", default=8 * 1024 * 1024, show_default=True, type=int, help="Refuse larger bodies (413)."
)
@click.option("--retention-every", default=None, help="Run the retention jobs on this schedule, e.g. 1h or 15 minutes.")
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One line per request: method, route template and status (never the raw path or query string).",
)
@click.option(
    "--forwarded-allow-ips",
    default="",
    show_default="none",
    metavar="IPS",
    callback=lambda ctx, param, value: _proxies(value),
    help="Comma-separated proxy addresses or networks (10.0.0.0/8, ::1) whose X-Forwarded-For / Forwarded "
    "headers name the client; '*' trusts every peer. From anyone else those headers are ignored.",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client has to send a request's headers; then 408 and the connection closes.",
)
@click.option(
    "--body-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client has to send a request's whole body; then 408 and the connection closes.",
)
def serve(
    policy_path: Path | None,
    config_path: Path | None,
    host: str,
    port: int,
    db_url: str | None,
    max_body_bytes: int,
    retention_every: str | None,
    access_log: bool,
    forwarded_allow_ips: str,
    header_timeout: float,
    body_timeout: float,
) -> None:
    """Run the OpenAI- and Anthropic-compatible gateway with the policy enforced.

    Refuses to start if the config would send data to a provider the policy does not declare.

    Example: aether-policy serve --port 8000 --config gateway.yaml
    """
    require_gateway()
    import uvicorn

    from aether_policy.cli._encryption_key import open_gateway_key
    from aether_policy.durations import Duration
    from aether_policy.gateway import check_conformance, create_app, load_config
    from aether_policy.gateway.server import server_config
    from aether_policy.plan import PromptGate, compile_policy
    from aether_policy.store import Store, database_url, key_file_for, parse_url

    loaded = load(policy_path)
    with user_errors():
        plan = compile_policy(loaded.policy)
        config, _, config_file = load_config(config_path)
        check_conformance(config, plan, config_file)
        every = Duration.parse(retention_every) if retention_every else None
        if every is not None and every.is_calendar:
            raise click.BadParameter(
                f"'{retention_every}' has no fixed length; use hours or days, e.g. 24h", param_hint="--retention-every"
            )
        url = database_url(db_url)
        store = Store(url)
        try:
            store.migrate()
            cipher, notices = open_gateway_key(store, key_file_for(parse_url(url)))
        except BaseException:
            store.close()
            raise
    for notice in notices:
        click.echo(notice, err=True)
    for name, provider in config.providers.items():
        if provider.api_key_env and not provider.api_key():
            click.echo(
                f"warning: {provider.api_key_env} is not set; calls to '{name}' will be refused upstream", err=True
            )
    scheduler = None
    if every is not None:
        from aether_policy.retention.schedule import RetentionScheduler

        scheduler = RetentionScheduler(store, plan, every.seconds)

    def shutdown() -> None:
        # Here, in the app's lifespan shutdown (after the last request, before uvicorn returns), not after
        # `run()`: uvicorn re-raises SIGTERM once it has shut down, which ends the process before any code
        # after `run()` could drain the queue.
        if scheduler is not None:
            scheduler.stop()
        store.close()

    app = create_app(
        plan,
        store,
        config,
        PromptGate(plan.storage_windows, cipher),
        max_body_bytes=max_body_bytes,
        on_shutdown=shutdown,
        forwarded_allow_ips=forwarded_allow_ips,
        body_timeout=body_timeout,
        access_log=access_log,
    )
    click.echo(f"aether-policy gateway on http://{host}:{port} enforcing policy {plan.digest}", err=True)
    if scheduler is not None:
        scheduler.start()
    try:
        server = server_config(app, host=host, port=port, header_timeout=header_timeout, access_log=access_log)
        uvicorn.Server(server).run()
    finally:
        store.close()  # a start-up failure, or a server that ended without a lifespan shutdown
