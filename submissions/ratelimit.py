"""Rate limits that slow abuse without identifying anyone.

Threat: a rate-limit key is written to the shared cache. A raw client address there
(or django-ratelimit's own unsalted hash of it, which is reversible by trying all
IPv4 addresses) would be a record of who submitted. So the per-client key is an HMAC
of the client address (IPv6 masked to its /64) under a secret derived from SECRET_KEY
and today's date: it changes daily, and reversing it needs both the cache and the
server's secret. A site-wide cap sits beside it. Panel logins are counted the same way,
per keyed username.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate
from django_redis.cache import RedisCache

logger = logging.getLogger("untold.ratelimit")


def client_address(request: HttpRequest) -> str:
    """The address of the client: from the one header a trusted proxy sets, if configured
    and present, otherwise REMOTE_ADDR. Masked: IPv6 to its /64 (one host often holds a
    whole /64); IPv4 kept whole, since carrier NAT already puts many people behind one."""
    value = ""
    header = settings.UNTOLD_CLIENT_IP_HEADER
    if header:
        # The proxy appends its view of the client last; anything before it is client-set.
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        value = value.split(",")[-1].strip()
    value = value or request.META.get("REMOTE_ADDR", "")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def daily_hmac(purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under a key derived from SECRET_KEY, the purpose and
    today's date: it changes daily, and reversing it needs the server's secret."""
    day = timezone.now().date().isoformat()
    return salted_hmac(f"untold.{purpose}|{day}", value, algorithm="sha256").hexdigest()


def client_key(group: str, request: HttpRequest) -> str:
    return daily_hmac("rate-limit", client_address(request))


def username_key(group: str, request: HttpRequest) -> str:
    """Panel login attempts are counted per username, never per address; the username is
    keyed so that the cache does not hold the names of accounts in clear."""
    return daily_hmac("login", request.POST.get("username", "").strip().lower())


def site_key(group: str, request: HttpRequest) -> str:
    return "site"


@dataclass(frozen=True)
class Limited:
    retry_after: int  # seconds

    @property
    def minutes(self) -> int:
        """The wait in whole minutes, at least one, for a page to say."""
        return max(1, -(-self.retry_after // 60))

    def refuse(self, response: HttpResponse) -> HttpResponse:
        """Make ``response`` the 429 that says when to come back."""
        response.status_code = 429
        response["Retry-After"] = str(self.retry_after)
        return response


def check(
    request: HttpRequest,
    group: str,
    *,
    per_client: str,
    site: str,
    client_key: Callable[[str, HttpRequest], str] = client_key,
) -> Limited | None:
    """Count this request against both limits; say how long to wait if either is full.

    Keys, windows and counting follow django-ratelimit. On Redis both keys are counted
    in one pipelined round trip instead of django-ratelimit's two per key: the rate limit
    is on the path of every submission. If the cache cannot be reached the request is
    let through (failing open keeps testimonies coming) and the log says so without any
    client detail."""
    limits = []
    for key_function, rate in ((client_key, per_client), (site_key, site)):
        limit, period = _split_rate(rate)
        value = key_function(group, request)
        window = _get_window(value, period)
        limits.append((_make_cache_key(group, window, rate, value, ALL), limit, period, window))
    try:
        counts = count(limits)
    except Exception as error:  # any cache failure: fail open, as the docstring says
        logger.warning("rate limit skipped: cache unavailable (%s)", type(error).__name__)
        return None
    now = int(time.time())
    waits = [
        window - now for (_, limit, _, window), n in zip(limits, counts, strict=True) if n > limit
    ]
    # In a window's last second the time left is 0: never tell anyone to retry at once.
    return Limited(retry_after=max(1, *waits)) if waits else None


# Every key counted in one command (EVALSHA): one round trip, atomic, and far less client
# work than a pipeline. A new key expires with its window, as django-ratelimit's do.
COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCR', key)
    if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""


def count(limits: list[tuple[str, int, int, int]]) -> list[int]:
    """Add one to each key (created with its window's expiry) and return the new counts."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        client = cache.client.get_client(write=True)
        keys = [cache.make_key(key) for key, _, _, _ in limits]
        expiries = [period + EXPIRATION_FUDGE for _, _, period, _ in limits]
        return client.register_script(COUNT_SCRIPT)(keys=keys, args=expiries, client=client)
    counts = []
    for key, _, period, _ in limits:
        if cache.add(key, 1, period + EXPIRATION_FUDGE):
            counts.append(1)
        else:
            counts.append(cache.incr(key))
    return counts
