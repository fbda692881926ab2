"""Opening the WebSocket with the network settings of the client's ``requests.Session``.

One configuration serves REST and realtime: the proxies, ``verify`` and ``cert``
of ``Sayna._http``, merged with the environment exactly as ``requests`` merges
them for a request (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ...).
``requests`` decides; websocket-client only executes that decision, so it must
not consult the environment a second time (its own rules differ in places).

Every failure is a :class:`~sayna.SaynaError`: a refused upgrade becomes the
exception for its HTTP status (built from the server's body), everything else
:class:`~sayna.SaynaConnectionError` or :class:`~sayna.SaynaTimeoutError`, with
the websocket-client or socket exception as ``__cause__``.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import requests
import requests.utils
import websocket

from sayna._errors import (
    SaynaConnectionError,
    SaynaTimeoutError,
    error_from_response,
)

__all__ = ["NetworkPlan", "network_plan", "open_websocket"]

_PROXY_TYPES = {
    "http": "http",
    "socks4": "socks4",
    "socks4a": "socks4a",
    "socks5": "socks5",
    "socks5h": "socks5h",
}
_DEFAULT_PROXY_PORTS = {"http": 80}
# websocket-client checks NO_PROXY from the environment whenever the list it is
# given is empty. requests has already applied NO_PROXY, so hand it a list that
# matches no host name.
_MATCHES_NO_HOST = ["\0"]


class NetworkPlan:
    """How to reach the server: an optional proxy and, for ``wss``, a TLS context."""

    __slots__ = ("proxy", "ssl_context")

    def __init__(self, proxy: dict[str, Any] | None, ssl_context: ssl.SSLContext | None) -> None:
        self.proxy = proxy
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        # Never show proxy credentials.
        where = "direct" if self.proxy is None else f"via {self.proxy['proxy_type']} proxy"
        return f"<NetworkPlan {where} tls={self.ssl_context is not None}>"


def _http_url(ws_url: str) -> str:
    # requests keys proxies by http/https; the upgrade is an http(s) request.
    return "https" + ws_url[3:] if ws_url.startswith("wss") else "http" + ws_url[2:]


def _ssl_context(verify: Any, cert: Any) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str) and os.path.isdir(verify):
        context = ssl.create_default_context(capath=verify)
    elif isinstance(verify, str):
        context = ssl.create_default_context(cafile=verify)
    else:
        # verify=True: the bundle requests itself would use.
        context = ssl.create_default_context(cafile=requests.utils.DEFAULT_CA_BUNDLE_PATH)
    if isinstance(cert, str):
        context.load_cert_chain(cert)
    elif isinstance(cert, (tuple, list)) and cert:
        context.load_cert_chain(cert[0], cert[1] if len(cert) > 1 else None)
    return context


def network_plan(http: requests.Session, ws_url: str) -> NetworkPlan:
    """Translate the session's merged settings for ``ws_url`` into a plan."""
    http_url = _http_url(ws_url)
    settings = http.merge_environment_settings(http_url, {}, None, None, None)
    proxy_url = requests.utils.select_proxy(http_url, settings.get("proxies") or {})
    proxy: dict[str, Any] | None = None
    if proxy_url:
        parts = urlsplit(proxy_url if "://" in proxy_url else "http://" + proxy_url)
        scheme = parts.scheme.lower()
        if scheme not in _PROXY_TYPES:
            raise SaynaConnectionError(
                f"a {scheme}:// proxy cannot carry the WebSocket connection;"
                " use an http://, socks4:// or socks5:// proxy"
            )
        if not parts.hostname:
            raise SaynaConnectionError("the configured proxy URL has no host")
        proxy = {
            "http_proxy_host": parts.hostname,
            "http_proxy_port": parts.port or _DEFAULT_PROXY_PORTS.get(scheme, 1080),
            "proxy_type": _PROXY_TYPES[scheme],
            "http_no_proxy": _MATCHES_NO_HOST,
        }
        if parts.username:
            proxy["http_proxy_auth"] = (unquote(parts.username), unquote(parts.password or ""))
    context = None
    if ws_url.startswith("wss"):
        try:
            context = _ssl_context(settings.get("verify", True), settings.get("cert"))
        except (OSError, ssl.SSLError) as exc:
            raise SaynaConnectionError(f"cannot load the TLS certificates: {exc}") from exc
    return NetworkPlan(proxy, context)


def _direct_socket(ws_url: str, plan: NetworkPlan, timeout: float) -> socket.socket:
    parts = urlsplit(ws_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        # Voice frames are small and latency-bound.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if plan.ssl_context is not None:
            sock = plan.ssl_context.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    return sock


def open_websocket(
    ws_url: str,
    *,
    plan: NetworkPlan,
    headers: list[str],
    timeout: float,
) -> websocket.WebSocket:
    """Connect and upgrade; the returned socket blocks without a timeout."""
    # The session keeps its own send lock and has a single reader, so the
    # library's locks would only add cost; UTF-8 is checked when decoding JSON.
    ws: Any = websocket.WebSocket(enable_multithread=False, skip_utf8_validation=True)
    options: dict[str, Any] = {"header": headers, "timeout": timeout, "redirect_limit": 0}
    raw: socket.socket | None = None
    try:
        if plan.proxy is None:
            # Open the TCP (and TLS) connection ourselves, so that websocket-client
            # never falls back to proxies from the environment.
            raw = options["socket"] = _direct_socket(ws_url, plan, timeout)
        else:
            options.update(plan.proxy)
            if plan.ssl_context is not None:
                ws.sock_opt.sslopt = {"context": plan.ssl_context}
        ws.connect(ws_url, **options)
    except websocket.WebSocketBadStatusException as exc:
        _discard(ws, raw)
        if exc.status_code in (301, 302, 303, 307, 308):
            raise SaynaConnectionError(
                f"the server answered the WebSocket upgrade at {ws_url} with a redirect"
                f" ({exc.status_code}); use the final URL"
            ) from exc
        raise error_from_response(
            exc.status_code,
            exc.resp_body or b"",
            method="GET",
            endpoint=urlsplit(ws_url).path or "/",
            headers=exc.resp_headers or {},
        ) from exc
    except (TimeoutError, websocket.WebSocketTimeoutException) as exc:
        _discard(ws, raw)
        raise SaynaTimeoutError(f"connecting to {ws_url} timed out after {timeout:g} s") from exc
    except ssl.SSLError as exc:
        _discard(ws, raw)
        raise SaynaConnectionError(f"TLS failed while connecting to {ws_url}: {exc}") from exc
    except (OSError, websocket.WebSocketException) as exc:
        _discard(ws, raw)
        if _is_redirect_limit(exc):
            raise SaynaConnectionError(
                f"the server answered the WebSocket upgrade at {ws_url} with a redirect;"
                " use the final URL"
            ) from exc
        raise SaynaConnectionError(f"cannot connect to {ws_url}: {_describe(exc)}") from exc
    ws.settimeout(None)
    return cast(websocket.WebSocket, ws)


def _discard(ws: Any, raw: socket.socket | None) -> None:
    ws.shutdown()
    if raw is not None:
        raw.close()


def _is_redirect_limit(exc: BaseException) -> bool:
    return isinstance(exc, websocket.WebSocketException) and "Redirect" in str(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
