"""Typed readers for settings that come from the environment.

Each one fails loudly on a value it cannot understand: a typo in production
configuration should stop the process at start-up, not surface as odd behaviour.
"""

from __future__ import annotations

import ipaddress
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate limit written as COUNT/PERIOD, e.g. "10/1h", "30/15m" or "5/90s":
    returns (count, window in seconds)."""
    raw = os.environ.get(name, "").strip() or default
    count, _, period = raw.replace(" ", "").partition("/")
    unit = _PERIODS.get(period[-1:].lower(), 0)
    amount = period[:-1] if unit else period
    if not unit:
        unit = 1
    if not (count.isdigit() and amount.isdigit() and int(count) > 0 and int(amount) > 0):
        raise ImproperlyConfigured(
            f"{name} must be COUNT/PERIOD with a whole count and a period in s, m, h or d, "
            f"such as 10/1h or 30/15m; got {raw!r}"
        )
    return int(count), int(amount) * unit


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def env_networks(name: str) -> tuple[IPNetwork, ...]:
    """Comma-separated networks in CIDR form ("192.0.2.0/24, 2001:db8::/48"; a bare
    address is its own /32 or /128). Host bits set ("192.0.2.7/24") is refused: it
    usually means a typo in the prefix, and the network it names would be a guess."""
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name} must be comma-separated networks such as 192.0.2.0/24 or 2001:db8::/48; "
                f"{item!r} is not one ({exc})"
            ) from exc
    return tuple(networks)
