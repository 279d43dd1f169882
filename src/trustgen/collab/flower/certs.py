"""TLS certificates and SuperNode authentication keys for a CollaFuse federation (``trustgen collab certs``).

* ``ca.pem`` / ``ca.key`` — a private certificate authority (keep ``ca.key`` offline);
* ``server.pem`` / ``server.key`` — the SuperLink's certificate, signed by the CA, valid for the host
  names and IP addresses given (the SuperLink's own process connects to ``127.0.0.1``, always included);
* ``node-<I>`` / ``node-<I>.pub`` — one EC (NIST P-384) key pair per SuperNode in OpenSSH format, the
  format Flower 1.42 reads: the private key stays on the node, the public key is registered with
  ``flwr supernode register`` (``trustgen collab register``) on the SuperLink.

Made with ``cryptography``; for production use your organisation's CA instead of this one.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


def make_certificates(folder: Path, hosts: list[str], days: int = 365) -> dict[str, Path]:
    """A CA and a server certificate for ``hosts`` (names or IPs) in ``folder``; returns the paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    pem = serialization.Encoding.PEM

    def key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trustgen CollaFuse CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA384()))
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server_key = ec.generate_private_key(ec.SECP384R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "localhost")]))
              .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=days))
              .add_extension(x509.SubjectAlternativeName(names), critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA384()))
    paths = {"ca": folder / "ca.pem", "ca_key": folder / "ca.key", "cert": folder / "server.pem",
             "key": folder / "server.key"}
    _write(paths["ca"], ca.public_bytes(pem))
    _write(paths["ca_key"], key_bytes(ca_key), private=True)
    _write(paths["cert"], server.public_bytes(pem))
    _write(paths["key"], key_bytes(server_key), private=True)
    return paths


def make_node_key(folder: Path, name: str) -> tuple[Path, Path]:
    """An EC P-384 key pair ``folder/name`` (OpenSSH private key) and ``folder/name.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private, public = folder / name, folder / f"{name}.pub"
    _write(private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.NoEncryption()), private=True)
    _write(public, key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
           + b"\n")
    return private, public
