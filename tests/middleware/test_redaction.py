"""Log redaction: records quoting 16+ bytes of the request or its response, in any escaped form, or the
caller's key, are redacted, from any logger and any thread, and still format."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from uvicorn.logging import AccessFormatter, DefaultFormatter

from aether_policy._context import Inflight, caller_secrets, enter, inflight_content, leave
from aether_policy.gateway.outbound import Answer, UpstreamFailure
from aether_policy.middleware import PolicyMiddleware
from aether_policy.plan import GuardedTransport
from aether_policy.redaction import PLACEHOLDER, REDACTED, install_log_redaction
from aether_policy.sinks import MemorySink
from aether_policy.types import Receive, Scope, Send
from tests.helpers import gate_for, shipped_plan

BODY = (
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "my passport number is X1234567 \\u00e9t\\u00e9"}]}'
)
# No run of 16 ASCII characters: only the text itself, not one of its escaped forms, shares 16 bytes with it.
ACCENTED = "Où est la forêt près du château? Déjà vu ça à Noël, Genève."
KEY = "aether-sk-callerkey123"


@pytest.fixture
def in_request() -> Iterator[Inflight]:
    install_log_redaction()
    inflight = Inflight(BODY, (KEY,))
    inflight.expose_body_now()
    tokens = inflight_content.set(inflight), caller_secrets.set((KEY,))
    yield inflight
    inflight_content.reset(tokens[0])
    caller_secrets.reset(tokens[1])


@pytest.fixture
def accented_request() -> Iterator[Inflight]:
    """A request whose body carries ACCENTED as UTF-8, the way the SDKs send it."""
    install_log_redaction()
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": ACCENTED}]}, ensure_ascii=False)
    inflight = Inflight(body.encode())
    inflight.expose_body_now()
    token = inflight_content.set(inflight)
    yield inflight
    inflight_content.reset(token)


def record_of(caplog: pytest.LogCaptureFixture, *args: Any, **kwargs: Any) -> logging.LogRecord:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("some.library.deep.child").info(*args, **kwargs)
    return caplog.records[-1]


def logged(caplog: pytest.LogCaptureFixture, *args: Any, **kwargs: Any) -> str:
    return record_of(caplog, *args, **kwargs).getMessage()


def logged_by(caplog: pytest.LogCaptureFixture, serve: Callable[[], None], logger: str = "app") -> str:
    """The one message `logger` logged while `serve` ran a request, as a handler would print it."""
    with caplog.at_level(logging.DEBUG):
        serve()
    (record,) = [r for r in caplog.records if r.name == logger]
    return record.getMessage()


def test_an_argument_quoting_the_raw_body_is_replaced(in_request: Inflight, caplog: pytest.LogCaptureFixture) -> None:
    assert logged(caplog, "sending %r", BODY[:60]) == f"sending {PLACEHOLDER}"


def test_a_message_quoting_the_decoded_text_is_redacted(in_request: Inflight, caplog: pytest.LogCaptureFixture) -> None:
    assert logged(caplog, "content was: passport number is X1234567 été!") == REDACTED


def test_arguments_that_quote_the_prompt_only_together_are_redacted(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    message = logged(caplog, "%s%s", "my passport ", "number is X1")
    assert message == REDACTED


def test_a_record_quoting_the_response_is_redacted(in_request: Inflight, caplog: pytest.LogCaptureFixture) -> None:
    in_request.expose_now("response", b'{"choices": [{"message": {"content": "Votre num\\u00e9ro de passeport"}}]}')
    assert logged(caplog, "upstream said %s", "Votre numéro de passeport") == f"upstream said {PLACEHOLDER}"


ANSWER = b'{"choices": [{"message": {"content": "Votre num\\u00e9ro de passeport"}}]}'


def test_the_provider_s_whole_answer_relayed_as_it_is_is_registered_once_and_still_redacted(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(in_request.expose("upstream", ANSWER, whole=True))
    registered = len(in_request.streams())
    asyncio.run(in_request.expose("response", ANSWER))  # the same bytes object, relayed to the caller
    assert len(in_request.streams()) == registered
    assert logged(caplog, "answered %s", "Votre numéro de passeport") == f"answered {PLACEHOLDER}"


def test_a_response_equal_to_the_answer_but_not_the_same_bytes_is_registered_on_its_own(
    in_request: Inflight,
) -> None:
    asyncio.run(in_request.expose("upstream", ANSWER, whole=True))
    registered = len(in_request.streams())
    asyncio.run(in_request.expose("response", bytes(bytearray(ANSWER))))  # rebuilt: no identity to trust
    assert len(in_request.streams()) == registered + 1


def test_a_streamed_chunk_relayed_as_it_is_is_registered_again_as_the_response(in_request: Inflight) -> None:
    chunk = b'data: {"choices": [{"delta": {"content": "Votre passeport"}}]}\n\n'
    asyncio.run(in_request.expose("upstream", chunk))
    registered = len(in_request.streams())
    asyncio.run(in_request.expose("response", chunk))
    assert len(in_request.streams()) > registered


def test_a_record_quoting_across_the_relayed_answer_and_what_follows_it_is_redacted(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(in_request.expose("upstream", ANSWER, whole=True))
    asyncio.run(in_request.expose("response", ANSWER))
    asyncio.run(in_request.expose("response", b"and then a trailer the app appended"))
    quoted = (ANSWER[-12:] + b"and then a").decode()  # each 16-byte window spans the two chunks
    assert logged(caplog, "sent %s", quoted) == f"sent {PLACEHOLDER}"


def test_a_whole_answer_relayed_after_upstream_text_cut_mid_escape_is_redacted_from_its_first_byte(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    # A first provider's error body, read when it failed, ends in a cut escape: the upstream registration
    # holds `\u00` back to finish it with what follows, and reads the next answer's first bytes into it.
    asyncio.run(in_request.expose("upstream", b'{"error": {"message": "cut \\u00', whole=True))
    answer = b"deadbeef: the caller's account number is 4242"  # the fallback's whole answer
    asyncio.run(in_request.expose("upstream", answer, whole=True))
    asyncio.run(in_request.expose("response", answer))  # relayed as the same bytes
    assert logged(caplog, "sent %s", answer[:16].decode()) == f"sent {PLACEHOLDER}"


def test_text_a_whole_answer_spells_out_is_redacted_when_relayed_after_upstream_text_that_was_no_stream(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    # The upstream registration decided from its first text (a JSON error body) that it is no event stream.
    asyncio.run(in_request.expose("upstream", b'{"error": {"message": "busy"}}', whole=True))
    answer = b"".join(
        b'data: {"choices": [{"delta": {"content": "%s"}}]}\n\n' % word
        for word in (b"Votre num", b"\\u00e9ro de pa", b"sseport X12")
    )
    asyncio.run(in_request.expose("upstream", answer, whole=True))
    asyncio.run(in_request.expose("response", answer))  # relayed as the same bytes
    assert logged(caplog, "said %s", "Votre numéro de passeport X12") == f"said {PLACEHOLDER}"


def test_a_record_quoting_text_a_stream_spelled_out_is_redacted(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    for word in ("Votre ", "numéro ", "de ", "passeport ", "est ", "secret"):
        delta = json.dumps({"choices": [{"delta": {"content": word}}]})
        in_request.expose_now("response", f"data: {delta}\n\n".encode())
    assert logged(caplog, "stream said %s", "numéro de passeport est secret") == f"stream said {PLACEHOLDER}"


def test_the_callers_key_is_redacted(in_request: Inflight, caplog: pytest.LogCaptureFixture) -> None:
    assert logged(caplog, f"auth header Bearer {KEY}") == REDACTED


def test_ordinary_records_that_share_short_words_pass(in_request: Inflight, caplog: pytest.LogCaptureFixture) -> None:
    assert logged(caplog, "POST /v1/chat/completions for user with model gpt-4o") == (
        "POST /v1/chat/completions for user with model gpt-4o"
    )


def test_a_traceback_quoting_the_prompt_is_dropped(in_request: Inflight, caplog: pytest.LogCaptureFixture) -> None:
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


def test_an_extra_attribute_quoting_the_prompt_is_replaced(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    record = record_of(caplog, "request done", extra={"prompt": "my passport number is X1234567", "tokens": 12})
    assert (record.prompt, record.tokens, record.getMessage()) == (PLACEHOLDER, 12, "request done")


def test_an_extra_attribute_quoting_the_callers_key_is_replaced(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    assert record_of(caplog, "auth", extra={"headers": {"authorization": f"Bearer {KEY}"}}).headers == PLACEHOLDER


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(json.dumps(ACCENTED), id="json-escaped"),
        pytest.param(repr(ACCENTED.encode()), id="bytes-repr"),
        pytest.param(ascii(ACCENTED), id="ascii-repr"),
        pytest.param(urllib.parse.quote(ACCENTED), id="percent-encoded"),
        pytest.param(urllib.parse.quote_plus(ACCENTED), id="form-encoded"),
        pytest.param(repr(json.dumps(ACCENTED).encode()), id="bytes-repr-of-json"),
    ],
)
def test_an_escaped_form_of_a_non_ascii_prompt_is_redacted(
    accented_request: Inflight, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    assert logged(caplog, "upstream got %s", form) == f"upstream got {PLACEHOLDER}"


def test_a_prompt_sent_with_json_escapes_is_redacted_when_logged_decoded(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    inflight = Inflight(json.dumps({"messages": [{"content": ACCENTED}]}).encode())  # ensure_ascii: \u escapes
    inflight.expose_body_now()
    token = inflight_content.set(inflight)
    try:
        assert logged(caplog, "prompt %s", ACCENTED) == f"prompt {PLACEHOLDER}"
    finally:
        inflight_content.reset(token)


def test_a_record_from_a_thread_the_request_started_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = (await receive())["body"].decode()
        worker = threading.Thread(target=lambda: logging.getLogger("worker").warning("working on %s", body))
        worker.start()
        worker.join()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    assert (
        logged_by(
            caplog,
            lambda: call(app, json.dumps({"messages": [{"content": "my passport number is X1234567"}]}).encode()),
            "worker",
        )
        == f"working on {PLACEHOLDER}"
    )


def test_a_thread_logging_after_no_request_is_in_flight_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    inflight = Inflight(b"my passport number is X1234567")
    inflight.expose_body_now()
    enter(inflight)
    leave(inflight)
    worker = threading.Thread(target=lambda: logging.getLogger("worker").warning("my passport number is X1234567"))
    with caplog.at_level(logging.DEBUG):
        worker.start()
        worker.join()
    assert caplog.records[-1].getMessage() == "my passport number is X1234567"


def test_an_upstream_response_logged_before_the_app_answers_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    upstream_text = "La réponse du fournisseur: votre numéro est le 42"

    def provider(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"message": {"content": upstream_text}}]})

    async def use(client: httpx.AsyncClient) -> None:
        answer = await client.post("https://api.openai.com/v1/chat/completions", content=b"{}")
        logging.getLogger("app").info("provider answered %s", answer.json()["choices"][0]["message"]["content"])

    assert logged_by(caplog, lambda: call(calling_provider(provider, use), b"{}")) == f"provider answered {PLACEHOLDER}"


def test_a_key_in_the_first_of_two_authorization_headers_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        first = next(value for name, value in scope["headers"] if name == b"authorization")
        logging.getLogger("app").info("caller presented %s", first.decode())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"authorization", b"Bearer something-else-entirely")]
    assert logged_by(caplog, lambda: call(app, b"{}", headers)) == f"caller presented {PLACEHOLDER}"


def access_record(path: str) -> logging.LogRecord:
    return logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "POST", path, "1.1", 200),
        None,
    )


def test_a_redacted_access_log_record_still_formats_with_uvicorns_formatter(in_request: Inflight) -> None:
    record = access_record("/v1/chat?q=my%20passport%20number%20is%20X1234567")
    line = AccessFormatter(fmt='%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == f'1.2.3.4:5 - "POST {PLACEHOLDER} HTTP/1.1" 200 OK'


def test_a_record_whose_template_quotes_the_prompt_still_formats_in_colour(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    text = "client sent my passport number is X1234567"
    record = record_of(caplog, text, extra={"color_message": f"\x1b[1m{text}\x1b[0m"})
    line = DefaultFormatter(fmt="%(levelprefix)s %(message)s", use_colors=True).format(record)
    assert "X1234567" not in line and REDACTED in line


def test_a_redacted_numeric_argument_still_formats_as_a_number(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    inflight = Inflight(b"card 4111111111111111 expires soon")
    inflight.expose_body_now()
    token = inflight_content.set(inflight)
    try:
        assert logged(caplog, "charged card %d of %s", 4111111111111111, "acme") == "charged card 0 of acme"
    finally:
        inflight_content.reset(token)


def call(app: Any, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send one request through PolicyMiddleware around `app`."""
    plan = shipped_plan()
    middleware = PolicyMiddleware(app, plan, MemorySink(), gate=gate_for(plan))

    async def go() -> None:
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            await client.post("/v1/chat/completions", content=body, headers=headers)

    asyncio.run(go())


def calling_provider(
    provider: Callable[[httpx.Request], httpx.Response], use: Callable[[httpx.AsyncClient], Awaitable[None]]
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An app that reads the request, calls `provider` through the guarded httpx transport (`use` gets the client,
    and logs what it likes), then answers 204."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        transport = GuardedTransport(shipped_plan().egress["openai"], httpx.MockTransport(provider))
        async with httpx.AsyncClient(transport=transport) as client:
            await use(client)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def test_a_body_the_app_refuses_unread_is_never_indexed() -> None:
    seen: list[Inflight] = []

    async def refuses(scope: Scope, receive: Receive, send: Send) -> None:
        inflight = inflight_content.get()
        assert inflight is not None
        seen.append(inflight)
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    call(refuses, b"x" * (1024 * 1024))
    assert seen[0].streams() == []


def test_each_key_of_a_comma_joined_authorization_header_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        logging.getLogger("app").info("second key was %s", "aether-sk-second-key-77")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    headers = [(b"authorization", b"Bearer aether-sk-first-key-66, Bearer aether-sk-second-key-77")]
    assert logged_by(caplog, lambda: call(app, b"{}", headers)) == f"second key was {PLACEHOLDER}"


def test_a_key_put_in_the_query_string_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        logging.getLogger("app").info("called with %s", scope["query_string"].decode())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    plan = shipped_plan()
    middleware = PolicyMiddleware(app, plan, MemorySink(), gate=gate_for(plan))

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://gw") as client:
            await client.post("/v1/chat/completions?api_key=aether-sk-in-the-url-42", content=b"{}")

    assert logged_by(caplog, lambda: asyncio.run(go())) == f"called with {PLACEHOLDER}"


# An answer whose last escape sits near its end: the index holds that tail back, waiting for a next piece
# that could complete the escape. Once the text has ended, the tail must be registered too.
ESCAPED_TAIL = b'{"choices":[{"message":{"content":"num\\u00e9ro X1234 d\\u00e9j\\u00e0 \\u00e9t\\u00e9"}}]}'
LAST_CHARACTERS = 'déjà été"}}]}'  # 17 bytes of UTF-8: each 16-byte window reaches past the last escape


def test_the_last_bytes_of_a_whole_answer_ending_in_an_escape_are_redacted(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(in_request.expose("upstream", ESCAPED_TAIL, whole=True))
    assert logged(caplog, "tail %s", LAST_CHARACTERS) == f"tail {PLACEHOLDER}"


def test_the_last_bytes_of_a_streamed_answer_are_redacted_once_the_stream_ends(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(in_request.expose("upstream", ESCAPED_TAIL[:40]))
    asyncio.run(in_request.expose("upstream", ESCAPED_TAIL[40:]))
    assert logged(caplog, "tail %s", LAST_CHARACTERS) == f"tail {LAST_CHARACTERS}"  # more could still come
    in_request.finish("upstream")
    assert logged(caplog, "tail %s", LAST_CHARACTERS) == f"tail {PLACEHOLDER}"


def test_the_last_bytes_of_a_response_are_redacted_after_its_last_chunk_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": ESCAPED_TAIL[:40], "more_body": True})
        await send({"type": "http.response.body", "body": ESCAPED_TAIL[40:]})
        logging.getLogger("app").info("sent %s", LAST_CHARACTERS)

    assert logged_by(caplog, lambda: call(app, b"{}")) == f"sent {PLACEHOLDER}"


def provider_answer(*, cut: bool) -> Answer:
    """A provider's streamed answer in two chunks (ESCAPED_TAIL), then cut mid-stream if `cut`."""

    async def chunks() -> AsyncIterator[bytes]:
        yield ESCAPED_TAIL[:40]
        yield ESCAPED_TAIL[40:]
        if cut:
            raise UpstreamFailure("broken", "ClientPayloadError")

    async def close() -> None:
        return None

    return Answer(200, {}, chunks(), close)


def test_the_last_bytes_of_a_provider_stream_cut_mid_answer_are_redacted_before_the_cut_is_reported(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    answer = provider_answer(cut=True)
    answer.expose_to(in_request)

    async def relay() -> str:
        try:
            async for _ in answer.aiter_bytes():
                pass
        except UpstreamFailure:
            return logged(caplog, "stream cut after %s", LAST_CHARACTERS)
        raise AssertionError("the stream was not cut")

    assert asyncio.run(relay()) == f"stream cut after {PLACEHOLDER}"


def test_the_last_bytes_of_a_provider_stream_its_reader_abandons_are_redacted(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    answer = provider_answer(cut=False)
    answer.expose_to(in_request)

    async def read_two_chunks_and_leave() -> None:
        reading = answer.aiter_bytes()
        await anext(reading)
        await anext(reading)
        await reading.aclose()  # the caller left: the relay stops reading before the provider's end

    asyncio.run(read_two_chunks_and_leave())
    assert logged(caplog, "left after %s", LAST_CHARACTERS) == f"left after {PLACEHOLDER}"


def test_the_last_bytes_of_a_provider_stream_are_redacted_once_its_relay_is_closed_while_it_writes(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    answer = provider_answer(cut=False)
    answer.expose_to(in_request)

    async def relay() -> AsyncIterator[bytes]:
        # As `Gateway._relay`: the answer read in an `async for`, each event written in the caller's protocol,
        # the answer closed in its `finally`. Closing the relay does not close what its `async for` was reading:
        # that generator is left to the garbage collector, whose clean-up runs a loop turn later.
        try:
            async for _ in answer.aiter_bytes():
                yield b'data: {"choices": []}\n\n'
        finally:
            await answer.aclose()

    async def leave_while_the_relay_writes() -> str:
        relaying = relay()
        await anext(relaying)
        await anext(relaying)  # the relay waits for its second event to be written ...
        await relaying.aclose()  # ... and the caller leaves: RelayStream closes the relay at its `yield`
        return logged(caplog, "left after %s", LAST_CHARACTERS)

    assert asyncio.run(leave_while_the_relay_writes()) == f"left after {PLACEHOLDER}"


def test_the_last_bytes_of_an_answer_its_reader_leaves_through_the_guarded_httpx_transport_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def provider_stream() -> AsyncIterator[bytes]:
        yield ESCAPED_TAIL[:40]
        yield ESCAPED_TAIL[40:]
        yield b"  "  # more to come: the reader leaves first

    def provider(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=provider_stream())

    async def use(client: httpx.AsyncClient) -> None:
        request = client.build_request("POST", "https://api.openai.com/v1/chat/completions", content=b"{}")
        answer = await client.send(request, stream=True)
        reading = answer.aiter_raw()
        await anext(reading)
        await anext(reading)
        await answer.aclose()  # the reader leaves before the provider's end
        logging.getLogger("app").info("left the provider after %s", LAST_CHARACTERS)
        await reading.aclose()

    assert (
        logged_by(caplog, lambda: call(calling_provider(provider, use), b"{}"))
        == f"left the provider after {PLACEHOLDER}"
    )


def test_the_last_bytes_of_an_answer_a_transport_read_whole_through_the_guarded_httpx_transport_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def provider(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=ESCAPED_TAIL)  # already read: no stream whose end would finish it

    async def use(client: httpx.AsyncClient) -> None:
        await client.post("https://api.openai.com/v1/chat/completions", content=b"{}")
        logging.getLogger("app").info("provider answered %s", LAST_CHARACTERS)

    assert logged_by(caplog, lambda: call(calling_provider(provider, use), b"{}")) == f"provider answered {PLACEHOLDER}"


def test_the_last_bytes_of_an_answer_streamed_through_the_guarded_httpx_transport_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def provider_stream() -> AsyncIterator[bytes]:
        yield ESCAPED_TAIL[:40]
        yield ESCAPED_TAIL[40:]

    def provider(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=provider_stream())

    async def use(client: httpx.AsyncClient) -> None:
        request = client.build_request("POST", "https://api.openai.com/v1/chat/completions", content=b"{}")
        answer = await client.send(request, stream=True)
        await answer.aread()
        logging.getLogger("app").info("provider ended with %s", LAST_CHARACTERS)

    assert (
        logged_by(caplog, lambda: call(calling_provider(provider, use), b"{}")) == f"provider ended with {PLACEHOLDER}"
    )


def call_directly(app: Any, *, send_fails_after: int | None = None) -> None:
    """One request through PolicyMiddleware, its caller leaving once the body is read (`receive` then says
    `http.disconnect`), or, with `send_fails_after`, the server failing every send past that many."""
    plan = shipped_plan()
    middleware = PolicyMiddleware(app, plan, MemorySink(), gate=gate_for(plan))
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}, {"type": "http.disconnect"}]
    sent = 0

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent
        sent += 1
        if send_fails_after is not None and sent > send_fails_after:
            raise OSError("the caller is gone")

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [], "query_string": b""}
    asyncio.run(middleware(scope, receive, send))


async def send_escaped_tail_in_two_chunks(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": ESCAPED_TAIL[:40], "more_body": True})
    await send({"type": "http.response.body", "body": ESCAPED_TAIL[40:], "more_body": True})


def test_the_last_bytes_of_a_response_are_redacted_once_the_app_hears_the_caller_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send_escaped_tail_in_two_chunks(send)
        assert (await receive())["type"] == "http.disconnect"
        logging.getLogger("app").info("caller left after %s", LAST_CHARACTERS)

    assert logged_by(caplog, lambda: call_directly(app)) == f"caller left after {PLACEHOLDER}"


def test_the_last_bytes_of_a_response_are_redacted_once_a_send_to_the_caller_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send_escaped_tail_in_two_chunks(send)
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": True})
        except OSError:
            logging.getLogger("app").info("could not send after %s", LAST_CHARACTERS)

    assert logged_by(caplog, lambda: call_directly(app, send_fails_after=3)) == f"could not send after {PLACEHOLDER}"


def test_text_spelled_by_a_stream_s_last_event_without_its_newline_is_redacted_once_it_ends(
    in_request: Inflight, caplog: pytest.LogCaptureFixture
) -> None:
    words = ("Votre ", "numéro ", "de ", "passeport ", "est ", "secret")
    events = [f"data: {json.dumps({'choices': [{'delta': {'content': w}}]})}" for w in words]
    in_request.expose_now("response", "\n\n".join(events).encode())  # the last line never gets its newline
    in_request.finish("response")
    assert logged(caplog, "stream said %s", "passeport est secret") == f"stream said {PLACEHOLDER}"
