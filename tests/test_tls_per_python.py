"""TLS verification follows the interpreter, and REST and WebSocket follow it together.

3.13's ``ssl.create_default_context()`` verifies with ``VERIFY_X509_STRICT``,
and urllib3 does the same from 3.13 on: a CA whose ``basicConstraints`` is not
marked critical (against RFC 5280) is refused there and accepted on 3.10 to
3.12. This test pins that difference, the one docs/guarantees.rst documents.
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import socket
import ssl
import sys

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sayna import AuthenticationError, Sayna, SaynaConnectionError
from tests.support.rawserver import RawServer, read_request_head
from tests.support.speech_configs import STT, TTS

STRICT = sys.version_info >= (3, 13)
REFUSED = b'{"error":"unauthorized","message":"no key"}'


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _lax_chain(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """(CA file, server cert+key file): the CA's basicConstraints is not critical."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("lax test CA"))
        .issuer_name(_name("lax test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_file = tmp_path / "server.pem"
    server_file.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, server_file


@pytest.fixture
def lax_tls_server(tmp_path: pathlib.Path) -> tuple[RawServer, pathlib.Path]:
    """A TLS server on loopback that refuses every request with 401, and its CA file."""
    ca_file, server_file = _lax_chain(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_file)

    def handler(conn: socket.socket) -> None:
        try:
            tls = context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate
        with tls:
            if read_request_head(tls):
                tls.sendall(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(REFUSED) + REFUSED
                )

    return RawServer(handler), ca_file


def test_rest_and_websocket_agree_on_a_lax_certificate(
    lax_tls_server: tuple[RawServer, pathlib.Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both refuse the lax CA on 3.13+; both accept it (and reach the 401) on 3.10-3.12."""
    raw, ca_file = lax_tls_server
    # requests lets these variables win over session.verify.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    http = requests.Session()
    http.verify = str(ca_file)
    url = f"https://127.0.0.1:{raw.port}"
    expected = SaynaConnectionError if STRICT else AuthenticationError
    with raw, http, Sayna(url, max_retries=0, session=http) as client:
        with pytest.raises(expected) as rest:
            client.health()
        with pytest.raises(expected) as realtime:
            client.connect(STT, TTS, timeout=10)
    for error in (rest.value, realtime.value):
        assert isinstance(error, AuthenticationError) is not STRICT
        if STRICT:
            assert "certificate" in str(error).lower(), str(error)
