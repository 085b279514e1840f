"""A provider's stream is read whatever line endings it uses, also when the gateway translates it."""

from __future__ import annotations

import pytest

from tests.gateway.conftest import Running
from tests.gateway.test_gateway_sdks import oai

PROMPT = "Describe the harbour of Porto at dawn in two sentences"


@pytest.mark.parametrize("model", ["claude-x-cr", "claude-x-crlf"])
def test_a_translated_stream_with_cr_or_crlf_line_endings_arrives_whole(gateway: Running, model: str) -> None:
    stream = oai(gateway).chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"echo: {PROMPT}"
    assert [c.usage.prompt_tokens for c in chunks if c.usage] == [5]
