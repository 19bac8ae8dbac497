"""The client configuration file (``jura-trust trust pin`` writes it; private).

TOML, at ``--config-file``, ``$JURA_TRUST_CONFIG`` or
``$XDG_CONFIG_HOME/jura-trust/config.toml`` (``~/.config/...``)::

    [service]
    url = "http://127.0.0.1:8080"
    aggregator = "http://127.0.0.1:8080/aggregator"
    extender = "http://127.0.0.1:8080/extender"
    publications_url = "http://127.0.0.1:8080/publications.bin"
    login = "anon"
    key_env = "JURA_TRUST_KEY"      # or key_file = "/path/to/key" (never the key itself)

    [trust]
    publications_file = "pins/127.0.0.1_8080-publications.bin"   # relative to this file
    certificate = "pins/127.0.0.1_8080-publisher.pem"
    fingerprint = "SHA-256:..."     # of the certificate, checked at every use
    constraints = { E = "publisher@jura-trust.invalid" }

``verify``, ``extend``, ``sign`` and ``qr verify`` read it through
:func:`~jura_trust.cli._common.trust_from_args` and
:func:`~jura_trust.cli._common.http_backend`; flags given on the command
line win over it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import attrs

from jura_trust import _files
from jura_trust.errors import ErrorCode, FormatError, PKIError

__all__ = ["CONFIG_ENV", "ClientConfig", "default_path", "dump", "fingerprint", "load"]

#: Environment variable naming the client configuration file.
CONFIG_ENV = "JURA_TRUST_CONFIG"
_MAX_CONFIG = 1024 * 1024
_SERVICE_KEYS = (
    "url",
    "aggregator",
    "extender",
    "publications_url",
    "login",
    "key_env",
    "key_file",
)
_TRUST_KEYS = ("publications_file", "certificate", "fingerprint", "constraints")


def default_path() -> Path:
    """``$JURA_TRUST_CONFIG``, else ``$XDG_CONFIG_HOME/jura-trust/config.toml``."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "jura-trust" / "config.toml"


def fingerprint(der: bytes) -> str:
    """``SHA-256:`` and the colon-separated hex of a certificate's DER."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return "SHA-256:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@attrs.frozen
class ClientConfig:
    """What the configuration file says (every field optional)."""

    path: Path | None = None
    url: str | None = None
    aggregator: str | None = None
    extender: str | None = None
    publications_url: str | None = None
    login: str | None = None
    key_env: str | None = None
    key_file: Path | None = None
    publications_file: Path | None = None
    certificate: Path | None = None
    fingerprint: str | None = None
    constraints: dict[str, str] = attrs.field(factory=dict)

    def key(self) -> str | bytes | None:
        """The login's key: from the variable ``key_env`` or the file ``key_file``."""
        if self.key_env:
            return os.environ.get(self.key_env) or None
        if self.key_file is not None:
            data = _files.read_regular(self.key_file, limit=4096)
            return data.rstrip(b"\r\n") or None
        return None

    def publications_bytes(self) -> bytes:
        """The pinned publications file (FMT-19 if it is gone)."""
        assert self.publications_file is not None
        return _files.read_regular(self.publications_file)

    def trust_anchors(self) -> list[Any]:
        """The pinned certificate, checked against the recorded fingerprint (PKI-03)."""
        if self.certificate is None:
            return []
        from jura_trust import pki  # noqa: PLC0415

        data = _files.read_regular(self.certificate, limit=_MAX_CONFIG)
        certificates = pki.load_certificates(data)
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        for cert in certificates:
            actual = fingerprint(cert.public_bytes(serialization.Encoding.DER))
            if self.fingerprint and actual != self.fingerprint:
                raise PKIError(
                    f"the pinned certificate {self.certificate} does not match the fingerprint "
                    f"recorded in {self.path} (setting trust.fingerprint): pin the service again "
                    "with 'jura-trust trust pin URL'",
                    code=ErrorCode.PKI_UNTRUSTED,
                )
        return certificates


def _text(table: dict[str, Any], key: str, where: str, path: Path) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FormatError(f"{path}: {where}.{key} must be a string", code=ErrorCode.FMT_STRUCTURE)
    return value


def load(path: str | os.PathLike[str] | None = None) -> ClientConfig:
    """Read the configuration (an empty one when the default file does not exist).

    A file named explicitly (``--config-file`` or ``$JURA_TRUST_CONFIG``)
    must exist (FMT-19); a malformed file is FMT-10, naming the setting.
    """
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    where = Path(path) if path is not None else default_path()
    if not explicit and not where.exists():
        return ClientConfig()
    data = _files.read_regular(where, limit=_MAX_CONFIG)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(
            f"{where} is not a TOML configuration: {exc}", code=ErrorCode.FMT_STRUCTURE
        ) from None
    service = doc.get("service", {})
    trust = doc.get("trust", {})
    if not isinstance(service, dict) or not isinstance(trust, dict):
        raise FormatError(
            f"{where}: [service] and [trust] must be tables", code=ErrorCode.FMT_STRUCTURE
        )
    unknown = sorted(
        [f"service.{k}" for k in service if k not in _SERVICE_KEYS]
        + [f"trust.{k}" for k in trust if k not in _TRUST_KEYS]
        + [k for k in doc if k not in ("service", "trust")]
    )
    if unknown:
        hint = (
            " (keys are never stored: use key_env or key_file)" if "service.key" in unknown else ""
        )
        raise FormatError(
            f"{where}: unknown setting(s) {', '.join(unknown)}{hint}",
            code=ErrorCode.FMT_STRUCTURE,
        )
    constraints = trust.get("constraints", {})
    if not isinstance(constraints, dict) or not all(
        isinstance(v, str) for v in constraints.values()
    ):
        raise FormatError(
            f"{where}: trust.constraints must be a table of strings", code=ErrorCode.FMT_STRUCTURE
        )
    base = where.parent

    def rel(value: str | None) -> Path | None:
        return None if value is None else base / value

    return ClientConfig(
        path=where,
        url=_text(service, "url", "service", where),
        aggregator=_text(service, "aggregator", "service", where),
        extender=_text(service, "extender", "service", where),
        publications_url=_text(service, "publications_url", "service", where),
        login=_text(service, "login", "service", where),
        key_env=_text(service, "key_env", "service", where),
        key_file=rel(_text(service, "key_file", "service", where)),
        publications_file=rel(_text(trust, "publications_file", "trust", where)),
        certificate=rel(_text(trust, "certificate", "trust", where)),
        fingerprint=_text(trust, "fingerprint", "trust", where),
        constraints=dict(constraints),
    )


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=False)


def dump(service: dict[str, str | None], trust: dict[str, Any]) -> str:
    """The TOML text of a configuration (``None`` values are left out)."""
    lines = ["# jura-trust client configuration (written by 'jura-trust trust pin')", ""]
    lines.append("[service]")
    lines += [f"{k} = {_toml_string(v)}" for k, v in service.items() if v is not None]
    lines += ["", "[trust]"]
    for key, value in trust.items():
        if value is None:
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{_toml_string(k)} = {_toml_string(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {_toml_string(str(value))}")
    return "\n".join(lines) + "\n"
