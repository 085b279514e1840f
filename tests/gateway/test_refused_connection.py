"""A provider that refuses the connection is a bad gateway (502), never a timeout (504)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from aether_policy.gateway import create_app
from tests.gateway.conftest import config_for, store_with_key
from tests.helpers import free_port, gate_for, loopback_plan, serve


@pytest.fixture
def refusing(tmp_path: Path, provider_keys: None) -> Iterator[tuple[str, str]]:
    store, key = store_with_key(f"sqlite:///{tmp_path / 'aether.db'}")
    plan = loopback_plan()
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the connection is refused at once
    with serve(create_app(plan, store, config_for(nobody, timeout=30.0), gate_for(plan))) as base:
        yield base, key
    store.close()


def test_a_refused_connection_is_502_in_openai_shape(refusing: tuple[str, str]) -> None:
    base, key = refusing
    with openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=10) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "connection_refused"  # type: ignore[index]
    assert "refused the connection" in caught.value.message


def test_a_refused_connection_is_502_in_anthropic_shape(refusing: tuple[str, str]) -> None:
    base, key = refusing
    with anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, timeout=10) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(
                model="claude-sonnet-5-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == 502
    assert "refused the connection" in caught.value.message
