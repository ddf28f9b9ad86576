"""TLS for the relay: the operator's certificate, or a self-signed one kept in the data dir."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocol.fingerprints import fingerprint

SELF_SIGNED_CERT_FILE = "relay-cert.pem"
SELF_SIGNED_KEY_FILE = "relay-key.pem"
SELF_SIGNED_VALID_DAYS = 3650


class TlsError(Exception):
    """The certificate or key cannot be used, in words for the operator."""


def ensure_self_signed(data_dir: Path) -> tuple[Path, Path]:
    """The self-signed certificate and key in `data_dir`, made on first use, reused after."""
    cert_path = data_dir / SELF_SIGNED_CERT_FILE
    key_path = data_dir / SELF_SIGNED_KEY_FILE
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    data_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fernwartung relay")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Write the key readable by the operator only, then the certificate; the certificate's
    # presence marks a complete pair.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def certificate_fingerprint(cert_path: Path) -> str:
    """The SHA-256 fingerprint (64 hex) of the first certificate in a PEM file."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as error:
        raise TlsError(
            f"cannot read the certificate {cert_path} ({type(error).__name__})"
        ) from None
    return fingerprint(certificate.public_bytes(serialization.Encoding.DER))


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # OpenSSL 3 already refuses renegotiation asked for by clients (each would cost a new
    # handshake); said here so that it stays so whatever the library's defaults.
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as error:
        raise TlsError(
            f"cannot load the certificate and key ({type(error).__name__}); check both files"
        ) from None
    return context
