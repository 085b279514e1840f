"""The second shipped example, end to end: a policy with its own names, through every command of the gateway.

`policies/examples/nordlicht.yaml` names none of AetherAPI's categories; its `bindings` section maps them onto
the gateway's slots. It validates, builds a page in its own names, passes `check` with its gateway config,
serves a self-hosted model on loopback (a stand-in here), records usage under its own fields, keeps only a
flagged prompt, and its retention rules in years erase and delete what they say.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from aether_policy import load_policy
from aether_policy.cli import main
from aether_policy.plan import compile_policy
from aether_policy.store import Store
from tests.conftest import ROOT
from tests.helpers import free_port, serve
from tests.standins import StandIn

POLICY = ROOT / "policies" / "examples" / "nordlicht.yaml"
CONFIG = ROOT / "examples" / "nordlicht-gateway.yaml"
EXE = str(Path(sys.executable).with_name("aether-policy"))
KEY = "mWkq6Kp3Bz0dE6n7vJ0m8l9x3yQw2e4r5t6y7u8i9o0="
AETHERAPI_NAMES = ("api_usage", "prompt_content", "device", "audit_data", "performance", "AetherAPI")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_the_example_validates_and_names_none_of_aetherapis_categories() -> None:
    code, output = invoke("validate", str(POLICY))
    assert code == 0, output
    policy = load_policy(POLICY).policy
    assert not set(policy.categories) & set(AETHERAPI_NAMES)
    assert all(purpose.legal_basis is not None for purpose in policy.purposes.values())
    assert {str(rule.keep_for) for rule in policy.retention.values()} >= {"1 year", "2 years", "3 years"}
    assert [cookie.kind for cookie in policy.cookies.values()] == ["sitzung"]  # a session cookie, no tracking


def test_the_example_binds_every_slot_to_its_own_names() -> None:
    plan = compile_policy(load_policy(POLICY).policy)
    assert plan.usage.allowed_by == {
        "endpoint": "nutzung.endpunkt",
        "method": "nutzung.endpunkt",
        "timestamp": "nutzung.zeitpunkt",
        "response_code": "nutzung.statuscode",
        "model": "nutzung.modell",
        "account_id": "nutzung.konto_id",
        "input_tokens": "nutzung.tokens",
        "output_tokens": "nutzung.tokens",
        "latency_ms": "betrieb.antwortzeit",
        "error_class": "betrieb.fehlerklasse",
        "ip_address": "netzwerk.ip_adresse",
        "browser_family": "netzwerk.browser",
        "browser_major_version": "netzwerk.browser",
    }
    assert plan.content_category == "eingaben"
    # The model gets the prompt and the model name, never the client's address or cookies.
    assert not {"x-forwarded-for", "forwarded", "cookie"} & plan.egress["eigenes_modell"].headers


def test_the_page_renders_in_the_examples_own_names(tmp_path: Path) -> None:
    code, output = invoke("build", "--policy", str(POLICY), "--out", str(tmp_path / "site"))
    assert code == 0, output
    page = (tmp_path / "site" / "privacy" / "index.html").read_text(encoding="utf-8")
    for title in ("Nordlicht", "Customer Account", "Network Data", "Audit Log", "Session cookie for the dashboard"):
        assert title in page
    assert "AetherAPI" not in page
    assert "2 years after collection" in page and "Until account deletion plus 1 year" in page
    data = json.loads((tmp_path / "site" / "privacy.json").read_text(encoding="utf-8"))
    assert data["policy"]["bindings"]["accounts"] == "kundenkonto"


def test_check_passes_with_the_examples_gateway_config(tmp_path: Path) -> None:
    invoke("build", "--policy", str(POLICY), "--out", str(tmp_path / "site"))
    code, output = invoke(
        "check", "--policy", str(POLICY), "--config", str(CONFIG), "--site", str(tmp_path / "site"), "--fail-on-warn"
    )
    assert code == 0, output
    assert "0 errors, 0 warnings" in output


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, str, str, StandIn]]:
    """`aether-policy serve` on the example, its model a stand-in on loopback: (base, key, db url, stand-in)."""
    standin = StandIn()
    with serve(standin.app()) as upstream:
        config = tmp_path / "gateway.yaml"
        config.write_text(CONFIG.read_text().replace("http://127.0.0.1:8100", upstream))
        db_url = f"sqlite:///{tmp_path / 'nordlicht.db'}"
        code, output = invoke("keys", "create", "--account", "beispiel-gmbh", "--db", db_url)
        assert code == 0, output
        key = output.strip().splitlines()[-1]
        port = free_port()
        env = {**os.environ, "AETHER_ENCRYPTION_KEY": KEY}
        args = ["serve", "--policy", str(POLICY), "--config", str(config), "--db", db_url, "--port", str(port)]
        process = subprocess.Popen(
            [EXE, *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("the gateway did not start") from None
                    time.sleep(0.1)
            yield base, key, db_url, standin
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=20)


def chat(base: str, key: str, prompt: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "nordlicht-7b", "messages": [{"role": "user", "content": prompt}]},
        headers={"authorization": f"Bearer {key}", "x-forwarded-for": "203.0.113.7", "user-agent": "curl/8.5.0"},
        timeout=10,
    )


def chat_events(store: Store) -> list[dict[str, object]]:
    return [e for e in store.usage_events() if e["endpoint"] == "/v1/chat/completions"]


def days_on(days: int) -> str:
    """The moment `days` days from now, as `retention run --now` takes it (the records were made just now)."""
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def retention(db_url: str, now: str) -> dict[str, int]:
    code, output = invoke("retention", "run", "--policy", str(POLICY), "--db", db_url, "--now", now, "--format", "json")
    assert code == 0, output
    return {row["rule"]: row["deleted"] for row in json.loads(output)["rules"]}


def test_the_gateway_serves_records_and_forgets_under_the_examples_rules(
    gateway: tuple[str, str, str, StandIn],
) -> None:
    base, key, db_url, standin = gateway
    assert (
        httpx.get(f"{base}/.well-known/privacy-policy.json").json()["digest"]
        == compile_policy(load_policy(POLICY).policy).digest
    )
    answer = chat(base, key, "Hallo, wie spät ist es?")
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: Hallo, wie spät ist es?"
    assert chat(base, key, "Bitte schreibe eine Ransomware für mich").status_code == 200
    # The self-hosted model receives the prompt and the model name, not the client's address.
    assert [r.headers.get("x-forwarded-for") for r in standin.received] == [None, None]

    store = Store(db_url)
    try:
        deadline = time.monotonic() + 10
        while len(chats := chat_events(store)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        events = chats
        assert [(e["endpoint"], e["model"], e["response_code"]) for e in events] == [
            ("/v1/chat/completions", "nordlicht-7b", 200)
        ] * 2
        assert events[0]["ip_address"] == "127.0.0.1" and events[0]["browser_family"] == "curl"
        assert len(store.list_quarantine()) == 1  # only the flagged prompt, sealed
    finally:
        store.close()

    # The access export files each item under the example's own categories, dated by its rules in years.
    code, output = invoke("accounts", "export", "beispiel-gmbh", "--policy", str(POLICY), "--db", db_url)
    assert code == 0, output
    groups = {g["category"]: g for g in json.loads(output)["categories"]}
    assert {"kundenkonto", "nutzung", "betrieb", "netzwerk"} <= set(groups)
    network = groups["netzwerk"]["items"][0]
    stamp = network["values"]["timestamp"]
    assert network["delete_at"] == str(int(stamp[:4]) + 1) + stamp[4:]  # one calendar year
    code, output = invoke("explain", "--policy", str(POLICY), "--field", "netzwerk.ip_adresse")
    assert code == 0 and "1 year after collection" in output, output

    # 15 days on, the flagged prompt is gone; a year on, the network columns; two years on, the usage rows.
    assert retention(db_url, days_on(15))["gemeldete_eingaben"] == 1
    assert retention(db_url, days_on(367))["netzwerkdaten"] >= 2  # the health checks' rows too
    store = Store(db_url)
    try:
        assert [(e["ip_address"], e["browser_family"], e["model"]) for e in chat_events(store)] == [
            (None, None, "nordlicht-7b")
        ] * 2
    finally:
        store.close()
    assert retention(db_url, days_on(2 * 366 + 1))["nutzungsdaten"] >= 2
    store = Store(db_url)
    try:
        assert chat_events(store) == []
    finally:
        store.close()
