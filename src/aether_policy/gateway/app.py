"""The bundled gateway: OpenAI- and Anthropic-compatible routing, with the policy enforced around it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aether_policy.credentials import ConflictingCredentials, api_key_of
from aether_policy.derive import model_name
from aether_policy.gateway import strict_json, translate
from aether_policy.gateway.config import GatewayConfig, ProviderConfig
from aether_policy.gateway.errors import GatewayError, error_body, flavour_of
from aether_policy.gateway.upstream import Upstream
from aether_policy.middleware import PolicyMiddleware, facts_of
from aether_policy.plan.compiled import Plan
from aether_policy.plan.gate import PromptGate
from aether_policy.store import Store
from aether_policy.types import ASGIApp

Stream = AsyncIterator[bytes]


class Gateway:
    def __init__(
        self, plan: Plan, store: Store, config: GatewayConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.plan = plan
        self.store = store
        self.config = config
        self.upstreams = {
            name: Upstream(name, provider, plan.egress[provider.recipient or name], transport)
            for name, provider in config.providers.items()
        }

    # -- endpoints ------------------------------------------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        return await self._serve(request, "openai")

    async def messages(self, request: Request) -> Response:
        return await self._serve(request, "anthropic")

    async def models(self, request: Request) -> Response:
        try:
            self._authenticate(request)
        except GatewayError as error:
            return error.response("openai")
        data = [{"id": m, "object": "model", "created": 0, "owned_by": p} for m, p in self.config.listed_models()]
        return JSONResponse({"object": "list", "data": data})

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
        account_id = self.store.authenticate(key) if key else None
        if account_id is None:
            raise GatewayError(401, "missing or unknown API key", "invalid_request_error", "invalid_api_key")
        facts_of(request.scope).account_id = account_id
        return account_id

    async def _serve(self, request: Request, flavour: str) -> Response:
        facts = facts_of(request.scope)
        try:
            self._authenticate(request)
            body = await self._parse(request)
            model = body["model"]
            routed = self.config.route(model)
            if routed is None:
                named = f"model '{model}'" if model_name(model) else "the model"  # never echo free text
                raise GatewayError(
                    404, f"{named} is not routed by this gateway", "invalid_request_error", "model_not_found"
                )
            upstream = self.upstreams[routed[0]]
            if _listed(routed[1], model):
                facts.model = model  # the operator names it: a model this gateway serves
            facts.offered["provider"] = upstream.name
            payload = body if upstream.api == flavour else self._to(upstream, body)
            streaming = bool(body.get("stream"))
            # Authenticated, parsed, routed and translatable: from here on the body is content the policy
            # governs, and the flagger may judge it.
            facts.authenticated_content = True
            response = await upstream.open(payload, stream=streaming)
        except GatewayError as error:
            facts.error_class = f"http_{error.status}"
            return error.response(flavour)
        # A model only a pattern (`gpt-*`) routes is recorded once the provider has answered for it: until then
        # it is just text the caller chose.
        facts.model = model
        if streaming:
            return StreamingResponse(
                self._relay(request, response, upstream, flavour, model),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
            )
        return self._complete(request, response, upstream, flavour)

    async def _parse(self, request: Request) -> dict[str, Any]:
        try:
            body = strict_json.loads(await request.body())
        except strict_json.BadJSON as error:
            raise GatewayError(400, str(error), "invalid_request_error", "invalid_json") from None
        if not isinstance(body, dict):
            raise GatewayError(400, "the request body must be a JSON object", "invalid_request_error")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise GatewayError(
                400, "`model` is required and must be a string", "invalid_request_error", "missing_model"
            )
        messages = body.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
        ):
            raise GatewayError(
                400, "`messages` must be a non-empty list of objects with a `role`", "invalid_request_error"
            )
        return body

    @staticmethod
    def _to(upstream: Upstream, body: dict[str, Any]) -> dict[str, Any]:
        """The request in the provider's own format; a shape the translation cannot read is the caller's 400."""
        try:
            if upstream.api == "anthropic":
                return translate.chat_to_messages(body)
            return translate.messages_to_chat(body)
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError) as error:
            raise GatewayError(
                400,
                f"the request cannot be translated for provider '{upstream.name}': a field is missing or has the "
                f"wrong type ({type(error).__name__})",
                "invalid_request_error",
            ) from None

    def _complete(self, request: Request, response: httpx.Response, upstream: Upstream, flavour: str) -> Response:
        try:
            data = strict_json.loads(response.content, "the provider's response", surrogates=True)
        except strict_json.BadJSON:
            facts_of(request.scope).error_class = "UpstreamMalformed"
            return GatewayError(
                502, f"provider '{upstream.name}' sent a malformed response", "upstream_error"
            ).response(flavour)
        try:
            if upstream.api != flavour:
                data = (
                    translate.message_to_completion(data)
                    if flavour == "openai"
                    else translate.completion_to_message(data)
                )
            _note_moderation(request, data)
        except _MALFORMED:
            facts_of(request.scope).error_class = "UpstreamMalformed"
            return GatewayError(
                502, f"provider '{upstream.name}' sent a response of an unexpected shape", "upstream_error"
            ).response(flavour)
        return strict_json.SafeJSONResponse(data)

    async def _relay(
        self, request: Request, response: httpx.Response, upstream: Upstream, flavour: str, model: str
    ) -> Stream:
        convert: Callable[[str | None, str], Any] | None = None
        finish: Callable[[], Any] | None = None
        if upstream.api != flavour:
            converter: Any = (
                translate.AnthropicToOpenAIStream(model)
                if flavour == "openai"
                else translate.OpenAIToAnthropicStream(model)
            )
            convert = converter.translate
            finish = getattr(converter, "finish", None)
        parser = translate.SSEParser()
        try:
            async for chunk in response.aiter_bytes():
                if convert is None:
                    yield chunk
                    continue
                for event, data in parser.feed(chunk):
                    for out in convert(event, data):
                        yield out
            if finish is not None:
                for out in finish():
                    yield out
        except httpx.HTTPError as error:
            facts_of(request.scope).error_class = "UpstreamStreamCut"
            yield _stream_error(flavour, f"provider '{upstream.name}' stream ended early ({type(error).__name__})")
        except _MALFORMED:
            # An event the translation cannot read: the status (200) is long sent, so the stream ends with an
            # error event the SDK raises, rather than the connection dropping mid-answer.
            facts_of(request.scope).error_class = "UpstreamMalformed"
            yield _stream_error(flavour, f"provider '{upstream.name}' sent a stream event of an unexpected shape")
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.aclose()


_MALFORMED = (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError)
"""What reading a provider's JSON of an unexpected shape raises."""


def _stream_error(flavour: str, message: str) -> bytes:
    if flavour == "openai":
        return translate.sse({"error": {"message": message, "type": "upstream_error"}})
    return translate.sse({"type": "error", "error": {"type": "api_error", "message": message}}, "error")


def _listed(provider: ProviderConfig, model: str) -> bool:
    """Whether the operator names this exact model (not only a pattern that matches it)."""
    return model in provider.models and not any(ch in model for ch in "*?[")


def _note_moderation(request: Request, data: Mapping[str, Any]) -> None:
    for choice in data.get("choices") or []:
        if isinstance(choice, dict) and choice.get("finish_reason") == "content_filter":
            facts_of(request.scope).upstream_flag = "content_filter"
    if data.get("stop_reason") == "refusal":
        facts_of(request.scope).upstream_flag = "refusal"


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
            Route("/v1/chat/completions", gateway.chat_completions, methods=["POST"]),
            Route("/v1/messages", gateway.messages, methods=["POST"]),
            Route("/v1/models", gateway.models, methods=["GET"]),
            Route("/healthz", gateway.healthz, methods=["GET"]),
            Route("/.well-known/privacy-policy.json", gateway.policy, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={404: _routing_error, 405: _routing_error},
    )
    return PolicyMiddleware(
        app,
        plan,
        store,
        gate=gate,
        max_body_bytes=max_body_bytes,
        clock=clock,
        forwarded_allow_ips=forwarded_allow_ips,
        body_timeout=body_timeout,
        access_log=access_log,
        error_body=error_body,
    )


async def _routing_error(request: Request, exc: Exception) -> Response:
    """An unknown path or a wrong method, in the error shape of the SDK that would call it."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    flavour = flavour_of(request.url.path)
    if status == 405:
        error = GatewayError(405, "method not allowed on this route", "invalid_request_error", "method_not_allowed")
    else:
        error = GatewayError(404, "no route for this path", "invalid_request_error", "not_found")
    response = error.response(flavour)
    if status == 405 and isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # Allow: the methods the route serves
    return response
