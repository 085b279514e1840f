"""The gateway's hot path past Starlette: a request to one of the fixed POST routes goes straight to its endpoint.

Starlette's app wraps every request in two exception middlewares and a router that tries each route's regex
in turn; the profile of `serve` under load put those layers at several percent of a request's CPU. The chat
and forwarded routes have fixed paths, so one dict lookup finds them. Everything else (GET routes, paths with
parameters, unknown paths, wrong methods, the lifespan) goes to the Starlette app unchanged, and what the
fast path leaves in the scope (`route`, `endpoint`, `path_params`) is what Starlette's router would: the
usage event's endpoint and the metrics' route label are the same either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from aether_policy.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class FixedRoutes:
    """An ASGI app: fixed-path POST routes served directly, anything else by `fallback` (the Starlette app)."""

    def __init__(self, fallback: Callable[[Scope, Receive, Send], Awaitable[None]], routes: Sequence[BaseRoute]):
        self.fallback = fallback
        self.routes = routes  # the policy middleware and metrics read the templates from here
        self._fixed: dict[str, tuple[Route, Endpoint]] = {}
        for route in routes:
            # A template without `{` is its own path (Starlette compiles it to an exact regex); it is taken
            # only if it is the route Starlette's router would pick for that path, the first full match.
            if isinstance(route, Route) and "{" not in route.path and route.methods == {"POST"}:
                probe = {"type": "http", "method": "POST", "path": route.path, "root_path": ""}
                first = next((r for r in routes if r.matches(probe)[0] is Match.FULL), None)
                if first is route:
                    self._fixed[route.path] = (route, route.endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fixed = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            fixed = self._fixed.get(scope["path"])
        if fixed is None:
            await self.fallback(scope, receive, send)
            return
        route, endpoint = fixed
        scope["route"], scope["endpoint"], scope["path_params"] = route, endpoint, {}
        scope.setdefault("app", self.fallback)
        request = Request(scope, receive, send)
        response = await endpoint(request)
        await response(scope, receive, send)
