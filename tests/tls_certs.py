"""Self-signed certificates made by openssl for the tests' TLS servers (one per call, so a
test can also make a CA that signed nothing it meets)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest


def self_signed(directory: Path, name: str = "cert") -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key, written to `directory`;
    the certificate is its own CA (trust it by passing it as the CA bundle)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the TLS tests (make test installs it)")
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS server context presenting `cert`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
