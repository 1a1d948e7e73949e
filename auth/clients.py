"""Who is on the other end of a request: the client address and whether it came over HTTPS.

Behind a reverse proxy every request arrives from the proxy's address, and the proxy tells the real
client and scheme in X-Forwarded-For / X-Forwarded-Proto. Anyone can send those headers, so they are
believed only when the direct peer is one of `[security].trusted_proxies` (addresses or networks,
e.g. ["10.0.0.5", "10.1.0.0/24"]); otherwise the peer itself is the client. Used by the sign-in
routes (auth/web.py: per-client throttling, audit, the cookie's Secure flag) and by the script
(ui/session.client_address) alike, so both name the same client.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache

import settings

MAX_LEN = 64  # login_attempts.client / audit_log.client

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"[security].trusted_proxies 中的地址无效：{entry!r}") from exc
    return tuple(out)


def trusted_networks() -> tuple[Network, ...]:
    cfg = settings.get_settings()
    entries = cfg.get("security", {}).get("trusted_proxies", [])
    return _networks(tuple(str(e) for e in entries))


def _parse(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None


def is_trusted(address: str | None, networks: tuple[Network, ...] | None = None) -> bool:
    ip = _parse(address)
    nets = trusted_networks() if networks is None else networks
    return ip is not None and any(ip in net for net in nets)


def client_address(peer: str | None, forwarded_for: str | None = None, *,
                   networks: tuple[Network, ...] | None = None) -> str:
    """The client's address. X-Forwarded-For is read from the right (each proxy appends the address
    it received from), skipping trusted proxies; the first untrusted hop is the client. A hop that is
    not an IP address ends the walk (it was written by someone we do not trust)."""
    nets = trusted_networks() if networks is None else networks
    peer = (peer or "unknown").strip() or "unknown"
    if not is_trusted(peer, nets):
        return peer[:MAX_LEN]
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        ip = _parse(hop)
        if ip is None:
            break
        client = str(ip)
        if not any(ip in net for net in nets):
            break
    return client[:MAX_LEN]


def came_over_https(peer: str | None, scheme: str, forwarded_proto: str | None = None, *,
                    networks: tuple[Network, ...] | None = None) -> bool:
    """True when the browser's connection was HTTPS: the request's own scheme, or — only from a
    trusted proxy — the first value of X-Forwarded-Proto (the scheme the outermost proxy saw)."""
    if scheme == "https":
        return True
    if not forwarded_proto or not is_trusted(peer, networks):
        return False
    return forwarded_proto.split(",")[0].strip().lower() == "https"
