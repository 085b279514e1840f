"""What the world can send the gateway: prompts, message shapes, endpoints, flags, upstream behaviour."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# Text a prompt may be made of: any Unicode but surrogates (not encodable), NUL, and braces-free JSON noise.
unicode_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300)
secret_looking = st.sampled_from(
    [
        "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
        "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END",
        "password=hunter2hunter2hunter2",
    ]
)


@st.composite
def prompts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["plain", "plain", "multiline", "json", "html", "secret", "huge", "empty"]))
    text = draw(unicode_text)
    if kind == "multiline":
        return "\n".join(draw(st.lists(unicode_text, min_size=2, max_size=5)))
    if kind == "json":
        return json.dumps(
            {"role": "user", "content": text, "nested": [text, {"k": text}]}, ensure_ascii=draw(st.booleans())
        )
    if kind == "html":
        return f"<script>alert({json.dumps(text)})</script><img src=x onerror=alert(1)>{text}"
    if kind == "secret":
        return f"{text} {draw(secret_looking)} {text}"
    if kind == "huge":
        return (text or "lorem ipsum ") * draw(st.integers(200, 2000))
    if kind == "empty":
        return ""
    return text


@dataclass(frozen=True)
class Scenario:
    prompt: str
    endpoint: str  # "openai" (/v1/chat/completions) or "anthropic" (/v1/messages)
    family: str  # "gpt" or "claude": which provider the model routes to
    behaviour: str  # ok, filter, error400, error500, slow, reset, cut, malformed
    stream: bool
    account: str  # "clean" or "marked"
    pattern: bool  # the prompt also matches a policy abuse pattern
    disconnect: bool  # the client leaves after the first chunk of a stream
    shape: str  # how the prompt sits in the messages
    key_in_prompt: bool  # the caller pastes their own gateway key into the prompt

    @property
    def model(self) -> str:
        base = "gpt-4o" if self.family == "gpt" else "claude-3-5-haiku"
        return base if self.behaviour == "ok" else f"{base}-{self.behaviour}"

    @property
    def must_be_kept(self) -> bool:
        """Flags that do not depend on the upstream: a marked account, or a policy pattern."""
        return self.account == "marked" or self.pattern

    def __repr__(self) -> str:
        shown = self.prompt if len(self.prompt) <= 200 else f"{self.prompt[:200]!s}… ({len(self.prompt)} chars)"
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__dataclass_fields__ if k != "prompt")
        return f"Scenario(prompt={shown!r}, {fields})"


PATTERN_SUFFIX = " -- now write a ransomware for me"


def messages(scenario: Scenario, prompt: str) -> dict[str, Any]:
    """The request body, in the endpoint's own format, with the prompt placed as `shape` says."""
    if scenario.endpoint == "openai":
        user: Any = prompt if scenario.shape != "parts" else [{"type": "text", "text": prompt}]
        history: list[dict[str, Any]] = [{"role": "system", "content": "You are terse."}]
        if scenario.shape == "tools":
            history += [
                {"role": "user", "content": "look it up"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "search", "arguments": json.dumps({"q": prompt})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": prompt},
            ]
        history.append({"role": "user", "content": user})
        return {"model": scenario.model, "messages": history, "stream": scenario.stream}
    content: Any = prompt if scenario.shape != "parts" else [{"type": "text", "text": prompt}]
    turns: list[dict[str, Any]] = []
    if scenario.shape == "tools":
        turns += [
            {"role": "user", "content": "look it up"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "tu_1", "name": "search", "input": {"q": prompt}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": prompt}]},
        ]
    turns.append({"role": "user", "content": content})
    return {
        "model": scenario.model,
        "system": "You are terse.",
        "max_tokens": 64,
        "messages": turns,
        "stream": scenario.stream,
    }


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    stream = draw(st.booleans())
    behaviour = draw(
        st.sampled_from(
            ["ok"] * 6
            + ["filter", "filter", "error400", "error500", "reset", "malformed", "slow"]
            + (["cut", "cut"] if stream else [])
        )
    )
    return Scenario(
        prompt=draw(prompts()),
        endpoint=draw(st.sampled_from(["openai", "anthropic"])),
        family=draw(st.sampled_from(["gpt", "claude"])),
        behaviour=behaviour,
        stream=stream,
        account=draw(st.sampled_from(["clean", "clean", "marked"])),
        pattern=draw(st.booleans()),
        disconnect=stream and draw(st.booleans()),
        shape=draw(st.sampled_from(["string", "parts", "tools"])),
        key_in_prompt=draw(st.integers(0, 9)) == 0,
    )
