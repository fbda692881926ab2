"""Opening the WebSocket with the network settings of the client's ``requests.Session``.

One configuration serves REST and realtime: the proxies, ``verify`` and ``cert``
of ``Sayna._http``, merged with the environment exactly as ``requests`` merges
them for a request (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ...).
``requests`` decides; nothing here consults the environment a second time
(websocket-client's own rules differ in places).

Opening takes one deadline for all of its steps: TCP, an HTTP proxy's
``CONNECT`` tunnel (ours), TLS, the upgrade. websocket-client writes the upgrade
request, checks the 101 answer and opens SOCKS tunnels; the answers themselves
are read by :mod:`sayna._realtime.handshake`, within the deadline and the size limits.

Every failure is a :class:`~sayna.SaynaError`: a refused upgrade becomes the
exception for its HTTP status (built from an excerpt of the server's body), an
answer that breaks HTTP, WebSocket or our limits :class:`~sayna.SaynaProtocolError`,
everything else :class:`~sayna.SaynaConnectionError` or
:class:`~sayna.SaynaTimeoutError`, with the websocket-client or socket
exception as ``__cause__``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import time
import types
import weakref
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import attrs
import requests
import requests.utils
import websocket
from websocket import _handshake as websocket_handshake
from websocket import _http as websocket_http
from websocket._url import parse_url

from sayna import _telemetry as telemetry
from sayna._errors import (
    SaynaConnectionError,
    SaynaError,
    SaynaProtocolError,
    SaynaTimeoutError,
    error_from_response,
)
from sayna._realtime.handshake import Answer, read_answer, read_error_body, redact, remaining

__all__ = ["NetworkPlan", "PlanCache", "RealtimeSettings", "network_plan", "open_websocket"]

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
        try:
            # urllib.parse checks a port or an IPv6 host only when asked, with
            # a raw ValueError; the URL itself may carry a password, so the
            # message never quotes it.
            parts = urlsplit(proxy_url if "://" in proxy_url else "http://" + proxy_url)
            port = parts.port
        except ValueError as exc:
            raise SaynaConnectionError(
                f"the configured proxy URL (a *_PROXY variable or the session's proxies)"
                f" is malformed: {exc}"
            ) from None
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
            "http_proxy_port": port or _DEFAULT_PROXY_PORTS.get(scheme, 1080),
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


_MERGE = requests.Session.merge_environment_settings


class PlanCache:
    """One client's last plan, reused while the session's settings stay the same.

    Building a plan scans ``os.environ`` (requests' proxy lookup, twice) and,
    for ``wss``, loads the CA bundle into a new TLS context: a quarter of a
    connect's CPU time (cProfile, 200 connects on loopback). As for the REST
    calls, the environment is read once per client; the session's own
    ``trust_env``, ``proxies``, ``verify`` and ``cert`` are compared on every
    connect, so a change to them applies to the next one. A session class
    that overrides ``merge_environment_settings`` is asked every time.
    """

    __slots__ = ("_entry",)

    def __init__(self) -> None:
        # (key, plan) as one object, so that concurrent connects never see a
        # key with another key's plan.
        self._entry: tuple[tuple[Any, ...], NetworkPlan] | None = None

    def plan(self, http: requests.Session, ws_url: str) -> NetworkPlan:
        if getattr(type(http), "merge_environment_settings", None) is not _MERGE:
            return network_plan(http, ws_url)
        key = (ws_url, http.trust_env, dict(http.proxies), _frozen(http.verify), _frozen(http.cert))
        entry = self._entry
        if entry is not None and entry[0] == key:
            return entry[1]
        plan = network_plan(http, ws_url)
        self._entry = (key, plan)
        return plan


def _frozen(value: Any) -> Any:
    # A list given as cert or verify may change in place: compare a copy.
    return tuple(value) if isinstance(value, list) else value


def _tcp_connect(host: str, port: int, deadline: float, url: str, timeout: float) -> socket.socket:
    """A TCP connection to the first address that accepts, within the deadline."""
    # Name resolution is the one step no socket timeout reaches: the system
    # resolver applies its own.
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    failure: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining(deadline, "opening the TCP connection", url, timeout))
            sock.connect(address)
        except TimeoutError as exc:
            sock.close()
            raise SaynaTimeoutError(
                f"connecting to {url} timed out after {timeout:g} s (opening the TCP connection)"
            ) from exc
        except BaseException as exc:
            sock.close()
            if not isinstance(exc, OSError):
                raise
            failure = exc
            continue
        # Voice frames are small and latency-bound.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return sock
    raise failure or OSError(f"no address found for {host}")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tunnel(
    sock: socket.socket,
    host: str,
    port: int,
    proxy: dict[str, Any],
    *,
    deadline: float,
    url: str,
    timeout: float,
) -> None:
    """Ask an HTTP proxy for a tunnel to ``host:port`` (``CONNECT``); raise unless granted."""
    target = _host_port(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    auth = proxy.get("http_proxy_auth")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        lines.append(f"Proxy-Authorization: Basic {token}")
    request = "\r\n".join([*lines, "", ""])
    _trace("proxy request", request)
    sock.settimeout(remaining(deadline, "asking the proxy for a tunnel", url, timeout))
    sock.sendall(request.encode("latin-1"))
    answer = read_answer(sock, deadline=deadline, url=url, timeout=timeout, who="proxy")
    if answer.status != 200:
        raise SaynaConnectionError(
            f"the proxy refused a tunnel to {target}: {answer.status} {answer.reason}".rstrip()
        )
    if answer.leftover:
        raise SaynaProtocolError(
            "the proxy sent data through the tunnel before the server could have spoken",
            method="CONNECT",
            endpoint=target,
        )


def _socks_socket(ws_url: str, plan: NetworkPlan, deadline: float, timeout: float) -> Any:
    # SOCKS is websocket-client's (through python-socks), TLS included. Its
    # replies have a fixed, small size; each step waits at most the time left.
    proxy = websocket_http.proxy_info(  # type: ignore[no-untyped-call]
        **plan.proxy or {},
        http_proxy_timeout=remaining(deadline, "connecting through the proxy", ws_url, timeout),
    )
    options = types.SimpleNamespace(
        sslopt={"context": plan.ssl_context} if plan.ssl_context is not None else {},
        sockopt=(),
        timeout=remaining(deadline, "connecting through the proxy", ws_url, timeout),
    )
    sock, _ = websocket_http.connect(ws_url, options, proxy, None)
    return sock


def _open_socket(
    ws_url: str,
    plan: NetworkPlan,
    deadline: float,
    timeout: float,
    on_socket: Callable[[Any], None] | None = None,
) -> Any:
    """TCP, then the proxy's tunnel, then TLS: a socket ready for the upgrade request.

    ``on_socket`` gets the TCP socket before the tunnel and TLS waits.
    """
    host, port, _, _ = parse_url(ws_url)
    proxy = plan.proxy
    if proxy is not None and proxy["proxy_type"] != "http":
        return _socks_socket(ws_url, plan, deadline, timeout)
    if proxy is None:
        sock = _tcp_connect(host, port, deadline, ws_url, timeout)
    else:
        sock = _tcp_connect(
            proxy["http_proxy_host"], proxy["http_proxy_port"], deadline, ws_url, timeout
        )
    try:
        telemetry.step("tcp")
        if on_socket is not None:
            on_socket(sock)
        if proxy is not None:
            _tunnel(sock, host, port, proxy, deadline=deadline, url=ws_url, timeout=timeout)
        if plan.ssl_context is not None:
            tls = plan.ssl_context.wrap_socket(
                sock, server_hostname=host, do_handshake_on_connect=False
            )
            sock = tls
            # The socket's timeout bounds the whole TLS handshake, not each read.
            tls.settimeout(remaining(deadline, "the TLS handshake", ws_url, timeout))
            try:
                tls.do_handshake()
            except TimeoutError as exc:
                raise SaynaTimeoutError(
                    f"connecting to {ws_url} timed out after {timeout:g} s (the TLS handshake)"
                ) from exc
            telemetry.step("tls")
    except BaseException:
        sock.close()
        raise
    return sock


class _Replay:
    """The connected socket, with bytes already read past the upgrade answer served first.

    Only used when the server sent frames in the same packet as its 101
    answer; the session's frame reader then reads those before the socket.
    """

    __slots__ = ("_pending", "_sock")

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        self._sock = sock
        self._pending = pending

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        pending = self._pending
        if not pending:
            return self._sock.recv_into(buffer, nbytes, flags)
        count = min(nbytes or len(buffer), len(pending))
        buffer[:count] = pending[:count]
        self._pending = pending[count:]
        return count

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        pending = self._pending
        if not pending:
            return self._sock.recv(bufsize, flags)
        self._pending = pending[bufsize:]
        return pending[:bufsize]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _trace(title: str, text: str) -> None:
    # websocket.enableTrace(True) shows the handshakes websocket-client makes;
    # ours are shown the same way, with the credentials hidden.
    if websocket.isEnabledForTrace():
        websocket.dump(title, redact(text))


def open_websocket(
    ws_url: str,
    *,
    plan: NetworkPlan,
    headers: list[str],
    timeout: float,
    deadline: float | None = None,
    on_socket: Callable[[Any], None] | None = None,
) -> websocket.WebSocket:
    """Connect and upgrade within ``timeout`` seconds in all (and by ``deadline``, if given).

    The returned WebSocket's socket blocks without a timeout; frames the server
    sent along with its 101 answer are read from it first. ``on_socket`` is
    given the TCP socket as soon as it is connected (before a proxy tunnel,
    TLS and the upgrade; not for SOCKS proxies), so that another thread can
    cut those waits by shutting it down.
    """
    started = time.monotonic()
    own_deadline = started + timeout
    if deadline is not None:
        own_deadline = min(own_deadline, deadline)
    sock: Any = None
    try:
        sock = _open_socket(ws_url, plan, own_deadline, timeout, on_socket)
        host, port, resource, _ = parse_url(ws_url)
        request_lines, key = websocket_handshake._get_handshake_headers(
            resource, ws_url, host, port, {"header": headers}
        )
        request = "\r\n".join(request_lines)
        _trace("request header", request)
        sock.settimeout(remaining(own_deadline, "sending the upgrade request", ws_url, timeout))
        sock.sendall(request.encode("utf-8"))
        answer = read_answer(sock, deadline=own_deadline, url=ws_url, timeout=timeout)
        _trace("response header", f"HTTP/1.1 {answer.status} {answer.reason}")
        if answer.status != 101:
            raise _refusal(sock, answer, ws_url, own_deadline)
        accepted, _ = websocket_handshake._validate(answer.headers, key, None)
        if not accepted:
            raise SaynaProtocolError(
                "the server's 101 answer is not a valid WebSocket upgrade"
                " (Upgrade, Connection or Sec-WebSocket-Accept is wrong)",
                method="GET",
                endpoint=_endpoint(ws_url),
            )
        sock.settimeout(None)
        telemetry.step("upgrade")
    except SaynaError:
        _close(sock)
        raise
    except (TimeoutError, websocket.WebSocketTimeoutException) as exc:
        _close(sock)
        raise SaynaTimeoutError(f"connecting to {ws_url} timed out after {timeout:g} s") from exc
    except ssl.SSLError as exc:
        _close(sock)
        raise SaynaConnectionError(f"TLS failed while connecting to {ws_url}: {exc}") from exc
    except (OSError, websocket.WebSocketException) as exc:
        _close(sock)
        raise SaynaConnectionError(f"cannot connect to {ws_url}: {_describe(exc)}") from exc
    except BaseException:
        _close(sock)
        raise
    ws: Any = websocket.WebSocket(enable_multithread=False, skip_utf8_validation=True)
    ws.sock = _Replay(sock, answer.leftover) if answer.leftover else sock
    ws.connected = True
    return cast(websocket.WebSocket, ws)


def _refusal(sock: Any, answer: Answer, ws_url: str, deadline: float) -> SaynaError:
    """The exception for an upgrade answered with anything but 101."""
    if answer.status in (301, 302, 303, 307, 308):
        return SaynaConnectionError(
            f"the server answered the WebSocket upgrade at {ws_url} with a redirect"
            f" ({answer.status}); use the final URL"
        )
    if answer.status < 200:
        return SaynaProtocolError(
            f"the server answered the WebSocket upgrade with {answer.status}",
            method="GET",
            endpoint=_endpoint(ws_url),
        )
    body = read_error_body(sock, answer, deadline=deadline)
    # error_from_response bounds the JSON nesting itself (sayna._wirejson).
    return error_from_response(
        answer.status, body, method="GET", endpoint=_endpoint(ws_url), headers=answer.headers
    )


def _endpoint(ws_url: str) -> str:
    return urlsplit(ws_url).path or "/"


def _close(sock: Any) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@attrs.frozen
class RealtimeSettings:
    """What a session needs from its client, taken once at ``connect()``.

    ``headers`` carries the API key: never shown.
    """

    ws_url: str
    headers: tuple[str, ...] = attrs.field(repr=False)
    http: requests.Session = attrs.field(repr=False)
    timeout: float
    ping_interval: float | None
    ping_timeout: float
    #: The client's registry of open sessions (so that ``Sayna.close()`` ends them).
    sessions: weakref.WeakSet[Any] = attrs.field(repr=False, eq=False)
    #: The client's network plan, built once while its settings stay the same.
    plans: PlanCache = attrs.field(factory=PlanCache, repr=False, eq=False)

    def open_websocket(
        self, timeout: float, deadline: float, on_socket: Callable[[Any], None] | None = None
    ) -> Any:
        """Connect and upgrade (proxy, TLS as the REST calls) by ``deadline``; raise a SaynaError.

        ``deadline`` is the one of the whole connect (TCP, proxy, TLS, upgrade,
        and the wait for ``ready`` after this returns); ``on_socket``: see
        :func:`open_websocket`.
        """
        plan = self.plans.plan(self.http, self.ws_url)
        return open_websocket(
            self.ws_url,
            plan=plan,
            headers=list(self.headers),
            timeout=min(timeout, self.timeout),
            deadline=deadline,
            on_socket=on_socket,
        )
