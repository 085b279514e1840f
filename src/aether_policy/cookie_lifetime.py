"""Hold a declared cookie to the lifetime the policy prints for it.

The page says "up to 52 weeks" or "until you close your browser" for each cookie; an app behind the middleware
could still send `Max-Age=315360000`. Before a `Set-Cookie` leaves, `cap_lifetime` rewrites it so a browser keeps
the cookie no longer than the policy's `max_age` counted from now:

- `Max-Age` above the cap becomes the cap; an `Expires` later than now plus the cap becomes that moment. Every
  occurrence is capped, since a browser honours the last one (RFC 6265 section 5.3).
- A session cookie (no `max_age` in the policy) loses `Max-Age` and `Expires`, so it ends with the browser.
- A deletion (`Max-Age` zero or negative, or an `Expires` already past) is left alone: removing a cookie is
  always within the policy.
- An attribute a browser would ignore, but that this parser cannot read (`Max-Age=1e9`, an unreadable date),
  is removed rather than trusted: the cookie can only become shorter-lived.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from aether_policy.durations import Duration

_MAX_AGE = re.compile(r"^-?\d+$")


def _expires(text: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _is_deletion(attributes: list[tuple[str, str]], now: datetime) -> bool:
    """What a browser would do with the last Max-Age, else the last Expires: remove the cookie now?"""
    max_ages = [v for k, v in attributes if k == "max-age" and _MAX_AGE.match(v)]
    if max_ages:
        return int(max_ages[-1]) <= 0
    expires = [moment for k, v in attributes if k == "expires" and (moment := _expires(v)) is not None]
    return bool(expires) and expires[-1] <= now


def cap_lifetime(header: bytes, max_age: Duration | None, now: datetime) -> bytes:
    """The `Set-Cookie` value with its lifetime held to `max_age` from `now` (None: a session cookie)."""
    text = header.decode("latin-1")
    pair, *raw = text.split(";")
    attributes = []
    for item in raw:
        key, _, value = item.partition("=")
        attributes.append((key.strip().lower(), value.strip()))
    if _is_deletion(attributes, now):
        return header
    cap = None if max_age is None else max_age.seconds_from(now)
    kept = [pair]
    for item, (key, value) in zip(raw, attributes, strict=True):
        if key == "max-age":
            if cap is None or not _MAX_AGE.match(value):
                continue
            if int(value) > cap:
                item = f" Max-Age={cap}"
        elif key == "expires":
            moment = _expires(value)
            if cap is None or moment is None:
                continue
            if moment > now + timedelta(seconds=cap):
                item = f" Expires={_http_date(now + timedelta(seconds=cap))}"
        kept.append(item)
    return ";".join(kept).encode("latin-1")
