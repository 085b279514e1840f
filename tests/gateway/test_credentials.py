"""The gateway reads every credential header value: conflicting keys are refused before anything is sent."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.conftest import Running

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there, gateway"}]}


def post(gateway: Running, headers: list[tuple[str, str]]) -> httpx.Response:
    return httpx.post(f"{gateway.base}/v1/chat/completions", json=BODY, headers=headers)


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(("authorization", "Bearer aether-sk-someone-elses-key"), id="second-authorization"),
        pytest.param(("x-api-key", "aether-sk-someone-elses-key"), id="authorization-and-x-api-key"),
    ],
)
def test_conflicting_credentials_are_refused_before_anything_is_sent(gateway: Running, second: tuple[str, str]) -> None:
    received = len(gateway.standin.received)
    response = post(gateway, [("authorization", f"Bearer {gateway.key}"), second])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "conflicting_credentials"
    assert len(gateway.standin.received) == received


def test_a_valid_key_cannot_hide_behind_an_unknown_first_value(gateway: Running) -> None:
    received = len(gateway.standin.received)
    response = post(gateway, [("x-api-key", "aether-sk-decoy"), ("x-api-key", gateway.key)])
    assert response.status_code == 400
    assert len(gateway.standin.received) == received


def test_the_same_key_in_both_headers_is_one_credential(gateway: Running) -> None:
    response = post(gateway, [("authorization", f"Bearer {gateway.key}"), ("x-api-key", gateway.key)])
    assert response.status_code == 200
