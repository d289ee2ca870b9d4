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

import functools
import hashlib
import ipaddress
import logging
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.http import HttpRequest, HttpResponse
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from redis import ConnectionPool
from redis.exceptions import NoScriptError

from submissions.campaign import campaign_today
from submissions.macs import salted_hex

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


@functools.cache  # a handful of rates, from the settings, parsed on every request
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
    return salted_hex(f"untold.{purpose}|{campaign_today().isoformat()}", value)


def client_key(request: HttpRequest) -> str:
    return daily_hmac("rate-limit", client_address(request))


def normalized_username(username: str) -> str:
    """A username as sign-in compares it, and stricter: NFKC (as Django's login form
    normalises it, so that a full-width or superscript twin is the same name) and
    case-folded."""
    return unicodedata.normalize("NFKC", username.strip()).casefold()


def username_key(request: HttpRequest) -> str:
    """Panel login attempts are counted per username as well as per client; the username
    is keyed so that the cache does not hold the names of accounts in clear."""
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


@dataclass(frozen=True)
class Counter:
    """One counter: its cache key, its limit and the seconds left in its window."""

    key: str
    limit: int
    seconds_left: int

    @classmethod
    def of(cls, group: str, rate: str, value: str, now: float) -> Counter:
        parsed = parse_rate(rate)
        end = parsed.window_end(now)
        return cls(cache_key(group, rate, value, now), parsed.limit, max(1, end - int(now)))


def check(
    request: HttpRequest,
    group: str,
    *,
    own: Sequence[tuple[str, str]],
    site: str,
    spend: bool = True,
    now: float | None = None,
) -> Limited | None:
    """Count this request against its own limits (``own``: pairs of a keyed value, such
    as ``client_key(request)``, and its rate) and, if ``spend`` and it is within all of
    them, against the site's; say how long to wait if any is full.

    If the cache cannot be reached the request is let through (failing open keeps
    testimonies coming) and the log says so without any client detail."""
    with counting(request, group, own=own, site=site, spend=spend, now=now) as counted:
        pass
    return counted.limited


@dataclass
class Counted:
    """What ``counting`` found, once its block has run: the wait, if a limit is full."""

    limited: Limited | None = None


@contextmanager
def counting(
    request: HttpRequest,
    group: str,
    *,
    own: Sequence[tuple[str, str]],
    site: str,
    spend: bool = True,
    now: float | None = None,
) -> Iterator[Counted]:
    """``check``, with the cache at work while the block runs: the count is sent on
    entry and its answer read on exit, into the yielded ``Counted``. The block must not
    act on anything the count decides (store, sign in); it may prepare, such as sealing
    a story, which takes about as long as the cache's answer takes to arrive."""
    now = time.time() if now is None else now
    mine = [Counter.of(group, rate, value, now) for value, rate in own]
    everyone = Counter.of(group, site, "site", now)
    counted = Counted()
    try:
        answer = send(mine, everyone, spend=spend)
    except Exception as error:  # any cache failure: fail open, as check's docstring says
        logger.warning("rate limit skipped: cache unavailable (%s)", type(error).__name__)
        yield counted
        return
    try:
        yield counted
    except BaseException:
        answer.abandon()
        raise
    try:
        counts = answer.read()
    except Exception as error:  # as above
        logger.warning("rate limit skipped: cache unavailable (%s)", type(error).__name__)
        return
    # In a window's last second the time left is 0: never tell anyone to retry at once.
    waits = [c.seconds_left for c, n in zip(mine, counts, strict=False) if n > c.limit]
    if waits:
        counted.limited = Limited(retry_after=max(waits))
    elif spend and counts[-1] > everyone.limit:
        counted.limited = Limited(retry_after=everyone.seconds_left, site_wide=True)


def forgive(group: str, *, own: Sequence[tuple[str, str]], site: str, now: float) -> None:
    """Take back what ``check`` counted at ``now`` for a request that spent the site's
    budget and turned out to deserve no count (a sign-in that succeeded), so that only
    failures count."""
    counters = [Counter.of(group, rate, value, now) for value, rate in own]
    counters.append(Counter.of(group, site, "site", now))
    cache = caches["default"]
    for counter in counters:
        try:
            cache.decr(counter.key)
        except ValueError:
            pass  # the window ended meanwhile: nothing left to take back
        except Exception as error:  # as in check: the cache may be down
            logger.warning("rate limit not forgiven: cache unavailable (%s)", type(error).__name__)
            return


# One command (EVALSHA): one round trip, atomic, and far less client work than a
# pipeline. It is sent before the request's other work and its answer read after it
# (``counting``), so that the round trip costs the request little. KEYS are the
# request's own counters, then the site's; ARGV holds, for each, the seconds left in its
# window and its limit, then whether the request spends the site's budget. The site
# counter is touched only when the request spends it and is within every one of its own
# limits. Each new counter expires at its window's end.
COUNT_SCRIPT = """
local counts, over = {}, false
for i = 1, #KEYS - 1 do
    counts[i] = redis.call('INCR', KEYS[i])
    if counts[i] == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i - 1]) end
    if counts[i] > tonumber(ARGV[2 * i]) then over = true end
end
local site = #KEYS
counts[site] = 0
if not over and ARGV[2 * site + 1] == '1' then
    counts[site] = redis.call('INCR', KEYS[site])
    if counts[site] == 1 then redis.call('EXPIRE', KEYS[site], ARGV[2 * site - 1]) end
end
return counts
"""


COUNT_SHA = hashlib.sha1(COUNT_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis names scripts so)


class Answer(Protocol):
    def read(self) -> list[int]: ...
    def abandon(self) -> None: ...


def send(mine: Sequence[Counter], everyone: Counter, *, spend: bool) -> Answer:
    """Add one to each of the request's own counters and, if it is within all of their
    limits and spends the site's budget, to the site's. The answer, read later, is the
    counts, the site's last (0 when untouched)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        counters = [*mine, everyone]
        keys = [cache.make_key(c.key) for c in counters]
        args = [value for c in counters for value in (c.seconds_left, c.limit)] + [int(spend)]
        return RedisAnswer(get_redis_connection("default").connection_pool, keys, args)
    # Local memory (development and tests): the same counting, key by key, at once.
    counts = [increment(cache, c) for c in mine]
    over = any(n > c.limit for c, n in zip(mine, counts, strict=True))
    return Known([*counts, 0 if over or not spend else increment(cache, everyone)])


@dataclass
class Known:
    """Counts made already (local memory): the answer is there before it is read."""

    counts: list[int]

    def read(self) -> list[int]:
        return self.counts

    def abandon(self) -> None:
        pass


class RedisAnswer:
    """The script, sent on a connection of the pool's own; the connection goes back to
    the pool once its answer is read, or closed if it never will be (a connection
    with an answer waiting would hand it to the next command)."""

    def __init__(self, pool: ConnectionPool, keys: list[str], args: list[int]) -> None:
        self.pool, self.command = pool, (len(keys), *keys, *args)
        self.connection = pool.get_connection()
        try:
            self.connection.send_command("EVALSHA", COUNT_SHA, *self.command)
        except BaseException:
            self.abandon()
            raise

    def read(self) -> list[int]:
        try:
            try:
                counts = self.connection.read_response()
            except NoScriptError:  # the server restarted: teach it the script, once
                self.connection.send_command("EVAL", COUNT_SCRIPT, *self.command)
                counts = self.connection.read_response()
        except BaseException:
            self.connection.disconnect()
            raise
        finally:
            self.pool.release(self.connection)
        return [int(n) for n in counts]

    def abandon(self) -> None:
        self.connection.disconnect()
        self.pool.release(self.connection)


def increment(cache: BaseCache, counter: Counter) -> int:
    if cache.add(counter.key, 1, counter.seconds_left):
        return 1
    return cache.incr(counter.key)
