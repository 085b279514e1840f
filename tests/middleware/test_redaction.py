"""The log-record factory: records quoting 16+ characters of the request, or the caller's key, are redacted."""

from __future__ import annotations

import json
import logging

import pytest

from aether_policy._context import Inflight, caller_secrets, inflight_content
from aether_policy.redaction import REDACTED, install_log_redaction

BODY = (
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "my passport number is X1234567 \\u00e9t\\u00e9"}]}'
)


@pytest.fixture
def in_request() -> object:
    install_log_redaction()
    inflight = Inflight(BODY)
    tokens = inflight_content.set(inflight), caller_secrets.set(("aether-sk-callerkey123",))
    yield inflight
    inflight_content.reset(tokens[0])
    caller_secrets.reset(tokens[1])


def logged(caplog: pytest.LogCaptureFixture, *args: object) -> str:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("some.library.deep.child").info(*args)
    return caplog.records[-1].getMessage()


def test_a_record_quoting_the_raw_body_is_redacted(in_request: object, caplog: pytest.LogCaptureFixture) -> None:
    assert logged(caplog, "sending %r", BODY[:60]) == REDACTED


def test_a_record_quoting_the_decoded_text_is_redacted(in_request: object, caplog: pytest.LogCaptureFixture) -> None:
    assert logged(caplog, "content was: passport number is X1234567 été!") == REDACTED


def test_a_record_quoting_the_response_is_redacted(in_request: Inflight, caplog: pytest.LogCaptureFixture) -> None:
    in_request.response += b'{"choices": [{"message": {"content": "Votre num\\u00e9ro de passeport"}}]}'
    assert logged(caplog, "upstream said %s", "Votre numéro de passeport") == REDACTED


def test_the_callers_key_is_redacted(in_request: object, caplog: pytest.LogCaptureFixture) -> None:
    assert logged(caplog, "auth header Bearer aether-sk-callerkey123") == REDACTED


def test_ordinary_records_that_share_short_words_pass(in_request: object, caplog: pytest.LogCaptureFixture) -> None:
    assert logged(caplog, "POST /v1/chat/completions for user with model gpt-4o") == (
        "POST /v1/chat/completions for user with model gpt-4o"
    )


def test_a_traceback_quoting_the_prompt_is_dropped(in_request: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        try:
            raise ValueError("bad input: my passport number is X1234567")
        except ValueError:
            logging.getLogger("app").exception("request failed")
    record = caplog.records[-1]
    assert record.exc_info is None and record.exc_text == f"{REDACTED} (ValueError)"


def test_outside_a_request_nothing_is_touched(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    assert logged(caplog, "my passport number is X1234567") == "my passport number is X1234567"


def test_a_record_quoting_text_a_stream_spelled_out_is_redacted(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    for word in ("Votre ", "numéro ", "de ", "passeport ", "est ", "secret"):
        delta = json.dumps({"choices": [{"delta": {"content": word}}]})
        in_request.response += f"data: {delta}\n\n".encode()
    assert logged(caplog, "stream said %s", "numéro de passeport est secret") == REDACTED
