"""The bundled gateway: one chat route per wire protocol (`gateway.protocols`), with the policy enforced around it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aether_policy.credentials import ConflictingCredentials, api_key_of
from aether_policy.derive import model_name
from aether_policy.gateway import protocols, sse, stream_usage, strict_json
from aether_policy.gateway.config import GatewayConfig
from aether_policy.gateway.dispatch import FixedRoutes
from aether_policy.gateway.errors import GatewayError, error_body
from aether_policy.gateway.fallback import Fallbacks, Sending
from aether_policy.gateway.limits import KeyLimits
from aether_policy.gateway.outbound import Answer, UpstreamFailure
from aether_policy.gateway.protocols import Unsupported, WireProtocol, anthropic, ir, openai
from aether_policy.gateway.protocols.base import model_and_stream_of_body
from aether_policy.gateway.protocols.ir import BadRequest
from aether_policy.gateway.relay import RelayStream
from aether_policy.gateway.upstream import Upstream
from aether_policy.middleware import PolicyMiddleware, facts_of
from aether_policy.plan.compiled import Plan
from aether_policy.plan.gate import PromptGate
from aether_policy.store import Store
from aether_policy.store.store import hash_key
from aether_policy.types import ASGIApp

if TYPE_CHECKING:
    from aether_policy.gateway.metrics import GatewayMetrics

Stream = AsyncIterator[bytes]


class Gateway:
    def __init__(
        self, plan: Plan, store: Store, config: GatewayConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.plan = plan
        self.store = store
        self.config = config
        self.limits = KeyLimits(store)  # per-key expiry, models, rpm and tpm
        self.upstreams = {
            name: Upstream(name, provider, plan.egress[provider.recipient or name], transport)
            for name, provider in config.providers.items()
        }
        self.fallbacks = Fallbacks(config, self.upstreams)  # only the fallbacks the policy allows

    # -- endpoints ------------------------------------------------------------------------------------------------

    def chat(self, protocol: WireProtocol) -> Callable[[Request], Awaitable[Response]]:
        """The chat endpoint of one protocol."""

        async def endpoint(request: Request) -> Response:
            return await self._serve(request, protocol, "chat", "messages")

        return endpoint

    async def models(self, request: Request) -> Response:
        """The exact model names the config lists, in the shape of the SDK asking."""
        caller = protocols.for_request(request.url.path, request.headers)
        try:
            self._authenticate(request)
        except GatewayError as error:
            return error.response(caller)
        return JSONResponse(caller.model_list(self.config.listed_models()))

    async def model(self, request: Request) -> Response:
        """One listed model; a model only a pattern routes is not claimed to exist (the provider may not have
        it), so it is a 404 like any unknown one."""
        caller = protocols.for_request(request.url.path, request.headers)
        try:
            self._authenticate(request)
            wanted = request.path_params["model_id"]
            for model, provider in self.config.listed_models():
                if model == wanted:
                    facts_of(request.scope).model = model
                    return JSONResponse(caller.model_entry(model, provider))
            named = f"model '{wanted}'" if model_name(wanted) else "the model"  # never echo free text
            raise GatewayError(
                404, f"{named} is not listed by this gateway", "invalid_request_error", "model_not_found"
            )
        except GatewayError as error:
            return error.response(caller)

    def forward(self, caller: WireProtocol, kind: str, required: str) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint forwarded as it is to a provider of the caller's own protocol that serves `kind`.

        Its body is content like a chat request's: authenticated, routed by its model, judged by the flagger
        and sealed by the prompt gate the same way. `required` is the field holding the content.
        """

        async def endpoint(request: Request) -> Response:
            return await self._serve(request, caller, kind, required)

        return endpoint

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "policy_digest": self.plan.digest})

    async def policy(self, request: Request) -> Response:
        return JSONResponse(
            {
                "service": self.plan.service_name,
                "digest": self.plan.digest,
                "version": self.plan.version,
                "last_updated": self.plan.last_updated.isoformat(),
                "page_url": self.plan.page_url,
            }
        )

    # -- the request path -----------------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str:
        try:
            key = api_key_of(request.headers.raw)  # every value: a repeated header cannot smuggle a second key
        except ConflictingCredentials as conflict:
            raise GatewayError(400, str(conflict), "invalid_request_error", "conflicting_credentials") from None
        key_hash = hash_key(key) if key else None  # hashed once: the store and the limiter both need it
        account_id = self.store.account_of_key_hash(key_hash) if key_hash else None
        if key_hash is None or account_id is None:
            raise GatewayError(401, "missing or unknown API key", "invalid_request_error", "invalid_api_key")
        self.limits.remember(request, key_hash)
        facts_of(request.scope).account_id = account_id
        return account_id

    async def _serve(self, request: Request, caller: WireProtocol, kind: str, required: str) -> Response:
        facts = facts_of(request.scope)
        try:
            self._authenticate(request)
            body = await self._parse(request)
            model, streaming = self._call_of(request, caller, kind, required, body)
            await self.limits.admit(request, body, model=model, stream=streaming)
            upstream, recorded = self._route(model)
            if recorded == model:
                facts.model = model  # the operator lists it: a model this gateway serves
            facts.offered["provider"] = upstream.name

            def prepare(upstream: Upstream, model: str, body: dict[str, Any]) -> Sending:
                return self._prepare(request, caller, kind, upstream, body, model, streaming)

            sending = prepare(upstream, model, body)
            # Authenticated, parsed, routed and translatable: from here on the body is content the policy
            # governs, and the flagger may judge it.
            facts.authenticated_content = True
            # A Responses fallback starts from what the first provider was sent: its `store: false` holds.
            start = sending.payload if kind == "responses" else body
            sending, response = await self.fallbacks.open(
                sending, start, prepare, partial(self.limits.allows_model, request)
            )
            if sending.model != model:
                recorded = sending.model  # a fallback's own model: the operator's name from the config
            elif sending.upstream is not upstream:
                recorded = sending.upstream.config.recorded_as(model)  # as the provider that answered lists it
            upstream, model, json_answer = sending.upstream, sending.model, sending.json_answer
            facts.offered["provider"] = upstream.name  # the provider that answered, for the metrics
        except GatewayError as error:
            facts.error_class = f"http_{error.status}"
            return error.response(caller)
        # A model only a pattern (`gpt-*`) routes is recorded as that pattern, once the provider has answered for
        # it: the name itself is text the caller chose, and a provider answering for `gpt-<anything>` (a proxy,
        # a self-hosted server that ignores the name) does not make it a model name.
        facts.model = recorded
        if streaming:
            return RelayStream(
                self._relay(request, response, upstream, caller, model, json_answer, sending.hidden_usage),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
                on_close=response.aclose,  # also when the relay never started (the server stopped first)
                send_timeout=upstream.config.timeout,  # a caller who stops reading does not hold the provider
            )
        return self._complete(request, response, upstream, caller, json_answer)

    def _prepare(
        self,
        request: Request,
        caller: WireProtocol,
        kind: str,
        upstream: Upstream,
        body: dict[str, Any],
        model: str,
        streaming: bool,
    ) -> Sending:
        """The request for one provider: its path, headers and payload (translated when it speaks another
        protocol), or the caller's GatewayError when that provider cannot take it."""
        if kind == "chat":
            path = upstream.protocol.chat_path_for(model, streaming)
        else:
            path = self._endpoint_of(caller, upstream, kind, model)
        headers = self._passthrough(request, caller, upstream)
        json_answer = hidden_usage = False
        if kind == "chat" and upstream.protocol is not caller:
            payload, json_answer = self._translate(caller, upstream, body, model, streaming)
        elif kind == "responses":
            payload = self._stored_as_declared(upstream, body)
        else:
            payload, hidden_usage = stream_usage.asking_for_usage(upstream.protocol is openai, kind, body, streaming)
        return Sending(upstream, model, path, headers, payload, streaming, json_answer, hidden_usage)

    @staticmethod
    def _passthrough(request: Request, caller: WireProtocol, upstream: Upstream) -> dict[str, str]:
        """The caller's protocol headers (`anthropic-beta`) for a provider of the same protocol, every value
        of a repeated header kept; a translated request cannot carry them, so it is refused naming them."""
        headers: dict[str, str] = {}
        for name in caller.passthrough_headers:
            values = request.headers.getlist(name)
            if not values:
                continue
            if upstream.protocol is not caller:
                raise GatewayError(
                    400,
                    f"the `{name}` header cannot be translated for provider '{upstream.name}', which speaks "
                    f"{upstream.api}",
                    "invalid_request_error",
                    "unsupported_parameter",
                )
            joined = ",".join(values)
            if not joined.isascii():  # HTTP allows other bytes; no provider's header of this kind holds them
                raise GatewayError(
                    400,
                    f"the `{name}` header must be ASCII text",
                    "invalid_request_error",
                    "invalid_header",
                )
            headers[name] = joined
        return headers

    def _route(self, model: str) -> tuple[Upstream, str | None]:
        """The upstream serving `model`, and what usage events may record of it (`ProviderConfig.recorded_as`)."""
        routed = self.config.route(model)
        if routed is None:
            named = f"model '{model}'" if model_name(model) else "the model"  # never echo free text
            raise GatewayError(
                404, f"{named} is not routed by this gateway", "invalid_request_error", "model_not_found"
            )
        return self.upstreams[routed[0]], routed[1].recorded_as(model)

    @staticmethod
    def _endpoint_of(caller: WireProtocol, upstream: Upstream, kind: str, model: str) -> str:
        """The provider's path for a non-chat endpoint; these are forwarded, never translated, so the model's
        provider must speak the caller's protocol and serve the endpoint."""
        path = upstream.protocol.endpoints.get(kind)
        if upstream.protocol is not caller or path is None:
            named = f"model '{model}'" if model_name(model) else "the model"
            raise GatewayError(
                400,
                f"`{kind}` is served only by providers that speak {caller.name}; {named} is served by provider "
                f"'{upstream.name}', which speaks {upstream.api}",
                "invalid_request_error",
                "unsupported_endpoint",
            )
        return path

    @staticmethod
    def _stored_as_declared(upstream: Upstream, body: dict[str, Any]) -> dict[str, Any]:
        """A Responses request with `store` as the policy allows: a provider the policy does not declare as
        keeping content gets `store: false` (OpenAI stores by default, a disclosure the policy must make), and
        a request asking it to store is refused rather than quietly changed."""
        if upstream.stores_content:
            return body
        if body.get("store") is True:
            raise GatewayError(
                400,
                f"`store: true` is refused: the privacy policy does not let provider '{upstream.name}' keep "
                "request content (recipients.<name>.provider.stores_content)",
                "invalid_request_error",
                "store_not_allowed",
            )
        return {**body, "store": False}

    async def _parse(self, request: Request) -> dict[str, Any]:
        try:
            body = strict_json.loads(await request.body())
        except strict_json.BadJSON as error:
            raise GatewayError(400, str(error), "invalid_request_error", "invalid_json") from None
        if not isinstance(body, dict):
            raise GatewayError(400, "the request body must be a JSON object", "invalid_request_error")
        return body

    @staticmethod
    def _call_of(
        request: Request, caller: WireProtocol, kind: str, required: str, body: dict[str, Any]
    ) -> tuple[str, bool]:
        """(model, streaming), once the body is known to hold the content its endpoint needs."""
        code = None
        try:
            if kind == "chat":
                model, streaming = caller.call_of(request.path_params, body)
                problem = caller.content_problem(body)
            else:
                model, streaming = model_and_stream_of_body(body)
                content = body.get(required)
                missing = content is None or content == "" or content == []
                problem, code = (f"`{required}` is required", f"missing_{required}") if missing else (None, None)
                if problem is None and kind == "responses":
                    problem = openai.responses_problem(body)  # forwarded as it is: its tool arguments too
        except BadRequest as error:
            raise GatewayError(error.status, error.message, "invalid_request_error", error.code) from None
        if problem is not None:
            raise GatewayError(400, problem, "invalid_request_error", code)
        return model, streaming

    @staticmethod
    def _translate(
        caller: WireProtocol, upstream: Upstream, body: dict[str, Any], model: str, streaming: bool
    ) -> tuple[dict[str, Any], bool]:
        """The request in the provider's own protocol, through the IR, and whether its structured output is
        emulated (then the answer is the forced tool's input). A parameter neither side can carry is the
        caller's 400 naming it; a shape the translation cannot read is the caller's 400 too."""
        try:
            request = caller.request_to_ir(body)
            request.model, request.stream = model, streaming  # a protocol may name them in the path
            emulated = not upstream.protocol.structured_output and (
                request.json_schema is not None or request.json_object
            )
            if emulated:
                request = ir.emulate_json_output(request)
            return upstream.protocol.request_from_ir(request), emulated
        except Unsupported as error:
            raise GatewayError(
                400,
                f"{error} (the model is served by provider '{upstream.name}', which speaks {upstream.api})",
                "invalid_request_error",
                "unsupported_parameter",
            ) from None
        except _MALFORMED as error:
            raise GatewayError(
                400,
                f"the request cannot be translated for provider '{upstream.name}': a field is missing or has the "
                f"wrong type ({type(error).__name__})",
                "invalid_request_error",
            ) from None

    def _complete(
        self, request: Request, response: Answer, upstream: Upstream, caller: WireProtocol, json_answer: bool
    ) -> Response:
        try:
            data = strict_json.loads(response.content, "the provider's response", surrogates=True)
        except strict_json.BadJSON:
            facts_of(request.scope).error_class = "UpstreamMalformed"
            return GatewayError(
                502, f"provider '{upstream.name}' sent a malformed response", "upstream_error"
            ).response(caller)
        try:
            if upstream.protocol is caller:
                flag = caller.moderation(data)
            else:
                answer = upstream.protocol.response_to_ir(data)
                if json_answer:
                    answer = ir.json_answer(answer)
                flag = answer.moderation
                data = caller.response_from_ir(answer)
            self.limits.settle(request, data)  # usage in the caller's shape, whichever endpoint answered
        except _MALFORMED:
            facts_of(request.scope).error_class = "UpstreamMalformed"
            return GatewayError(
                502, f"provider '{upstream.name}' sent a response of an unexpected shape", "upstream_error"
            ).response(caller)
        if flag is not None:
            facts_of(request.scope).upstream_flag = flag
        if upstream.protocol is caller:
            # Read, not changed: the provider's own bytes (valid UTF-8 JSON, as the strict parse proved) go to
            # the caller as a same-protocol stream's do, without a second serialisation.
            return Response(response.content, media_type="application/json")
        return strict_json.SafeJSONResponse(data)

    async def _relay(
        self,
        request: Request,
        response: Answer,
        upstream: Upstream,
        caller: WireProtocol,
        model: str,
        json_answer: bool,
        hidden_usage: bool,
    ) -> Stream:
        """The provider's stream to the caller: bytes as they come when both speak the same protocol, else each
        event read into the IR and written in the caller's protocol. The usage the provider reports in it is
        charged to the key's token limit when the stream ends (`stream_usage`)."""
        usage = stream_usage.UsageWatcher()
        try:
            if upstream.protocol is caller:
                if hidden_usage:  # the gateway asked for the usage chunk: read it, relay the rest
                    async for chunk in response.aiter_bytes():
                        if out := usage.without_usage_chunk(chunk):
                            yield out
                    if rest := usage.rest(hiding=True):
                        yield rest
                    return
                async for chunk in response.aiter_bytes():
                    usage.watch(chunk)  # never holds a chunk back
                    yield chunk
                usage.rest()
                return
            reader, writer = upstream.protocol.stream_reader(), caller.stream_writer(model)
            adapter = ir.JsonAnswerStream() if json_answer else None
            async for event, data in sse.events(response):
                usage.read_data(data)
                for read in reader.read(event, data):
                    for step in adapter.adapt(read) if adapter is not None else (read,):
                        if isinstance(step, ir.Finished) and step.moderation is not None:
                            facts_of(request.scope).upstream_flag = step.moderation
                        for out in writer.write(step):
                            yield out
            for out in writer.close():
                yield out
        except UpstreamFailure as error:
            facts_of(request.scope).error_class = "UpstreamStreamCut"
            yield caller.stream_error(f"provider '{upstream.name}' stream ended early ({error.name})")
        except (*_MALFORMED, sse.SSEError):
            # An event the translation cannot read, or no event stream at all (before httpx's errors: SSEError is
            # one of them): the status (200) is long sent, so the stream ends with an error event the SDK
            # raises, rather than the connection dropping mid-answer.
            facts_of(request.scope).error_class = "UpstreamMalformed"
            yield caller.stream_error(f"provider '{upstream.name}' sent a stream event of an unexpected shape")
        except httpx.HTTPError as error:  # the event-stream reader's own (an undecodable body)
            facts_of(request.scope).error_class = "UpstreamStreamCut"
            yield caller.stream_error(f"provider '{upstream.name}' stream ended early ({type(error).__name__})")
        finally:
            # Also when the stream was cut or the caller left: what was reported so far is charged beyond the
            # estimate admission charged, and no less than one token per event relayed when the output tokens
            # never came (a caller leaving just before OpenAI's last chunk must not stream for free).
            if usage.input_tokens is not None or usage.output_tokens is not None or usage.events:
                self.limits.charge(request, usage.input_tokens, usage.output_tokens, at_least=usage.floor())
            await response.aclose()

    async def aclose(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.aclose()
        self.limits.close()


_MALFORMED = (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError)
"""What reading a provider's JSON of an unexpected shape raises."""


def create_app(
    plan: Plan,
    store: Store,
    config: GatewayConfig,
    gate: PromptGate,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_body_bytes: int = 8 * 1024 * 1024,
    on_shutdown: Callable[[], Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    forwarded_allow_ips: str | Iterable[str] | None = None,
    body_timeout: float | None = 60.0,
    access_log: bool = False,
    metrics: GatewayMetrics | None = None,
) -> ASGIApp:
    """The gateway app with the policy middleware outermost, so it sees every request and response."""
    gateway = Gateway(plan, store, config, transport)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await gateway.aclose()
        if on_shutdown is not None:
            on_shutdown()

    app = Starlette(
        routes=[
            *(Route(p.chat_route, gateway.chat(p), methods=["POST"]) for p in protocols.PROTOCOLS.values()),
            Route("/v1/embeddings", gateway.forward(openai, "embeddings", "input"), methods=["POST"]),
            Route("/v1/completions", gateway.forward(openai, "completions", "prompt"), methods=["POST"]),
            Route("/v1/responses", gateway.forward(openai, "responses", "input"), methods=["POST"]),
            Route(
                "/v1/messages/count_tokens", gateway.forward(anthropic, "count_tokens", "messages"), methods=["POST"]
            ),
            Route("/v1/models", gateway.models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", gateway.model, methods=["GET"]),
            Route("/healthz", gateway.healthz, methods=["GET"]),
            Route("/.well-known/privacy-policy.json", gateway.policy, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={404: _routing_error, 405: _routing_error},
    )
    sink = store if metrics is None else metrics.sink(store)
    enforced = PolicyMiddleware(
        FixedRoutes(app, app.routes),
        plan,
        sink,
        gate=gate,
        max_body_bytes=max_body_bytes,
        clock=clock,
        forwarded_allow_ips=forwarded_allow_ips,
        body_timeout=body_timeout,
        access_log=access_log,
        error_body=error_body,
    )
    if metrics is None:
        return enforced
    # Metrics outermost: /metrics is answered before the policy middleware, and every other answer is counted.
    metrics.watch_store(store)
    metrics.watch_upstreams(gateway.upstreams.values())
    gateway.limits.on_limited = metrics.note_rate_limited
    return metrics.wrap(enforced, app.routes)


async def _routing_error(request: Request, exc: Exception) -> Response:
    """An unknown path or a wrong method, in the error shape of the SDK that would call it."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    caller = protocols.for_request(request.url.path, request.headers)
    if status == 405:
        error = GatewayError(405, "method not allowed on this route", "invalid_request_error", "method_not_allowed")
    else:
        error = GatewayError(404, "no route for this path", "invalid_request_error", "not_found")
    response = error.response(caller)
    if status == 405 and isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # Allow: the methods the route serves
    return response
