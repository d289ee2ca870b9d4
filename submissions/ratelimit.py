"""Rate limits that slow abuse without identifying anyone, and that one client cannot
turn against everyone else.

Threat: a rate-limit key is written to the shared cache. A raw client address there
(or django-ratelimit's own unsalted hash of it, which is reversible by trying all
IPv4 addresses) would be a record of who submitted. So the per-client key is an HMAC
of the client address (IPv6 masked to its /64) under a secret derived from SECRET_KEY
and the campaign's date: it changes at midnight in the campaign's zone, and reversing
it needs both the cache and the server's secret. Panel logins are counted the same
way, per keyed username.

Threat: one client floods the form so that nobody else can send a story. A site-wide
cap sits beside the per-client limit, but only requests that are within their own
client's limit, and that the caller says should count (a valid story, a real sign-in
attempt), spend it: a flood of empty or over-limit posts costs its sender alone.

Threat: a counter's expiry dates the request that created it. Windows are fixed (they
end at multiples of their length since the epoch) and every counter expires at its
window's end, so a key's time to live tells nothing finer than the window. (The
expiry is sent as the seconds left until that end, by this server's clock, rather
than as an EXPIREAT instant: the same moment when the clocks agree, and no key born
already expired when they do not.)

Rates are written as django-ratelimit writes them ("10/h", "5/15m"); the few lines of
arithmetic are owned here, so that the runtime and the configuration check
(submissions.E013) share one ``parse_rate``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac
from django_redis import get_redis_connection
from django_redis.cache import RedisCache

from submissions.campaign import campaign_today

logger = logging.getLogger("untold.ratelimit")

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE = re.compile(r"(\d+)/(\d*)([smhd])")


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int

    def window_end(self, now: float) -> int:
        """The end of the fixed window that ``now`` falls in, in epoch seconds."""
        return (int(now) // self.seconds + 1) * self.seconds


def parse_rate(text: str) -> Rate:
    """A rate such as ``10/h`` or ``5/15m``; raises ValueError for anything else,
    including a zero count or a zero period (``10/0m``)."""
    match = RATE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a rate like 10/h or 5/15m: {text!r}")
    count, multiple, unit = match.groups()
    seconds = int(multiple or 1) * UNITS[unit]
    if int(count) < 1 or seconds < 1:
        raise ValueError(f"a rate needs a count and a period of at least 1: {text!r}")
    return Rate(int(count), seconds)


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
    """HMAC-SHA256 of ``value`` under a key derived from SECRET_KEY, the purpose and the
    campaign's date: it changes at midnight in the campaign's zone, and reversing it
    needs the server's secret."""
    day = campaign_today().isoformat()
    return salted_hmac(f"untold.{purpose}|{day}", value, algorithm="sha256").hexdigest()


def client_key(group: str, request: HttpRequest) -> str:
    return daily_hmac("rate-limit", client_address(request))


def normalized_username(username: str) -> str:
    """A username as sign-in compares it, and stricter: NFKC (as Django's login form
    normalises it, so that a full-width or superscript twin is the same name) and
    case-folded."""
    return unicodedata.normalize("NFKC", username.strip()).casefold()


def username_key(group: str, request: HttpRequest) -> str:
    """Panel login attempts are counted per username, never per address; the username is
    keyed so that the cache does not hold the names of accounts in clear."""
    return daily_hmac("login", normalized_username(request.POST.get("username", "")))


def cache_key(group: str, rate: str, value: str, now: float | None = None) -> str:
    """The counter for ``value`` in ``group`` under ``rate``, in the window of ``now``."""
    end = parse_rate(rate).window_end(time.time() if now is None else now)
    return f"rl:{group}:{rate}:{end}:{value}"


@dataclass(frozen=True)
class Limited:
    retry_after: int  # seconds
    # Whose limit was reached: the client's own ("you sent several just now") or the
    # site's ("many people are sending right now").
    site_wide: bool = False

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
    spend: bool = True,
    client_key: Callable[[str, HttpRequest], str] = client_key,
) -> Limited | None:
    """Count this request against its client's limit and, if ``spend`` and the client is
    within its own limit, against the site's; say how long to wait if either is full.

    If the cache cannot be reached the request is let through (failing open keeps
    testimonies coming) and the log says so without any client detail."""
    now = time.time()
    client_rate, site_rate = parse_rate(per_client), parse_rate(site)
    client = cache_key(group, per_client, client_key(group, request), now)
    everyone = cache_key(group, site, "site", now)
    client_end, site_end = client_rate.window_end(now), site_rate.window_end(now)
    try:
        client_count, site_count = count(
            client, client_end, client_rate.limit, everyone, site_end, spend=spend
        )
    except Exception as error:  # any cache failure: fail open, as the docstring says
        logger.warning("rate limit skipped: cache unavailable (%s)", type(error).__name__)
        return None
    # In a window's last second the time left is 0: never tell anyone to retry at once.
    if client_count > client_rate.limit:
        return Limited(retry_after=max(1, client_end - int(now)))
    if spend and site_count > site_rate.limit:
        return Limited(retry_after=max(1, site_end - int(now)), site_wide=True)
    return None


# One command (EVALSHA): one round trip, atomic, and far less client work than a
# pipeline. The site counter is touched only when the request spends it and its
# client is within its own limit. Each new counter expires at its window's end
# (ARGV[1] and ARGV[3]: the seconds left until it).
COUNT_SCRIPT = """
local mine = redis.call('INCR', KEYS[1])
if mine == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if mine > tonumber(ARGV[2]) or ARGV[4] == '0' then return {mine, 0} end
local everyone = redis.call('INCR', KEYS[2])
if everyone == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return {mine, everyone}
"""


def count(
    client: str, client_end: int, client_limit: int, site: str, site_end: int, *, spend: bool
) -> tuple[int, int]:
    """Add one to the client's counter and, if it is within ``client_limit`` and the
    request spends the site's budget, to the site's; return both counts (the site's is
    0 when untouched)."""
    cache = caches["default"]
    now = int(time.time())
    client_left, site_left = max(1, client_end - now), max(1, site_end - now)
    if isinstance(cache, RedisCache):
        redis = get_redis_connection("default")
        keys = [cache.make_key(client), cache.make_key(site)]
        args = [client_left, client_limit, site_left, int(spend)]
        mine, everyone = redis.register_script(COUNT_SCRIPT)(keys=keys, args=args, client=redis)
        return int(mine), int(everyone)
    # Local memory (development and tests): the same counting, key by key.
    mine = increment(cache, client, client_left)
    if mine > client_limit or not spend:
        return mine, 0
    return mine, increment(cache, site, site_left)


def increment(cache: BaseCache, key: str, seconds_left: int) -> int:
    if cache.add(key, 1, seconds_left):
        return 1
    return cache.incr(key)
