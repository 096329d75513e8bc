"""The client's own HTTP/1.1 path (console/clerk/wire.py) speaks TLS as Clerk's API does:
a real TLS server on loopback with a certificate made for the test, trusted through
SSL_CERT_FILE as an operator's corporate CA would be; a certificate for another host
is refused. No network beyond loopback."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from pathlib import Path

import httpx
import pytest

from console.clerk.wire import WirePool

x509 = pytest.importorskip("cryptography.x509")  # installed with PyMySQL[rsa]
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _certificate(tmp: Path, names: list[str]) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def _serve(cert: Path, key: Path, seen: list[dict]) -> asyncio.Server:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen.append({"line": lines[0], "headers": headers, "body": body})
                answer = json.dumps({"object": "total_count", "total_count": len(seen)}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)


async def test_wire_speaks_tls_and_keeps_the_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cert, key = _certificate(tmp_path, ["127.0.0.1"])
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    seen: list[dict] = []
    server = await _serve(cert, key, seen)
    port = server.sockets[0].getsockname()[1]
    pool = WirePool(f"https://127.0.0.1:{port}/v1", [("Authorization", "Bearer test")])
    try:
        first = await pool.request("GET", "/users/count")
        second = await pool.request("POST", "/users", body=b'{"a":1}', headers=[(b"content-type", b"application/json")])
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()
    assert (first.status, json.loads(first.body)["total_count"]) == (200, 1)
    assert json.loads(second.body)["total_count"] == 2
    assert seen[0]["line"] == "GET /v1/users/count HTTP/1.1"
    assert seen[1]["line"] == "POST /v1/users HTTP/1.1" and seen[1]["body"] == b'{"a":1}'
    assert seen[0]["headers"]["host"] == f"127.0.0.1:{port}"
    assert pool.opened == 1  # the second request reused the TLS connection


async def test_wire_refuses_a_certificate_for_another_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cert, key = _certificate(tmp_path, ["api.clerk.example"])
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server = await _serve(cert, key, [])
    port = server.sockets[0].getsockname()[1]
    pool = WirePool(f"https://127.0.0.1:{port}/v1", [("Authorization", "Bearer test")])
    try:
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await pool.request("GET", "/users/count")
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()
