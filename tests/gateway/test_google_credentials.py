"""Google's SDK sends its key as `x-goog-api-key`: a credential like the others, every value of it."""

from __future__ import annotations

import httpx

from aether_policy.credentials import api_key_of, secrets_of
from tests.gateway.conftest import Running

BODY = {"model": "gpt-5.5", "messages": [{"role": "user", "content": "hi"}]}


def test_x_goog_api_key_authenticates(gateway: Running) -> None:
    response = httpx.post(f"{gateway.base}/v1/chat/completions", json=BODY, headers={"x-goog-api-key": gateway.key})
    assert response.status_code == 200


def test_x_goog_api_key_with_another_key_is_a_conflict(gateway: Running) -> None:
    response = httpx.post(
        f"{gateway.base}/v1/chat/completions",
        json=BODY,
        headers={"x-goog-api-key": gateway.key, "authorization": "Bearer sk-someone-else-0000"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "conflicting_credentials")
    assert gateway.standin.received == []


def test_every_x_goog_api_key_value_is_a_secret() -> None:
    headers = [(b"x-goog-api-key", b"first-key-0001"), (b"x-goog-api-key", b"second-key-0002")]
    assert secrets_of(headers) == ("first-key-0001", "second-key-0002")
    assert api_key_of([(b"x-goog-api-key", b"first-key-0001")]) == "first-key-0001"
