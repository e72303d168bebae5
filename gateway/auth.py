"""Caller authentication: bearer or ``api-key`` header → the caller's key entry.

Only SHA-256 digests of keys are held after load. A lookup hashes the presented
key and looks the digest up: what is compared is a digest the caller cannot
steer, so the time taken says nothing about how much of a key was guessed.
A key that matched is then remembered (with its ``Bearer <key>`` header, as
sent), so that its next request is one dict lookup; a key that did not match
is never kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config import Settings
from providers.errors import AuthenticationError, PermissionDeniedError

__all__ = ["Caller", "KeyRing", "key_of", "presented_key"]


@dataclass(frozen=True, slots=True)
class Caller:
    name: str  # key name from the config ("master" for the master key): safe for logs and labels
    models: frozenset[str] | None  # None: every model
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: str = "total"
    is_master: bool = False

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models

    def check_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:  # not may_use: every request
            raise PermissionDeniedError(f"this key may not use the model '{model}'", param="model")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def presented_key(headers: Mapping[str, str]) -> str | None:
    return key_of(headers.get("authorization"), headers.get("api-key"))


def key_of(authorization: str | None, api_key: str | None) -> str | None:
    """The key a request presents: a bearer ``authorization``'s, else ``api-key``'s."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return api_key.strip() if api_key else None


class KeyRing:
    def __init__(self, settings: Settings) -> None:
        self._by_digest: dict[bytes, Caller] = {}
        self._accepted: dict[str, Caller] = {}  # keys seen that matched: no digest per request
        self._by_header: dict[bytes, Caller] = {}  # b"Bearer <key>" of keys seen that matched
        master = settings.server.master_key
        if master and master.get_secret_value():
            self._by_digest[_digest(master.get_secret_value())] = Caller(
                name="master", models=None, is_master=True
            )
        for entry in settings.keys:
            if entry.key_sha256:
                digest = bytes.fromhex(entry.key_sha256)
            else:
                assert entry.key is not None  # the config requires key or key_sha256
                digest = _digest(entry.key.get_secret_value())
            self._by_digest[digest] = Caller(
                name=entry.name,
                models=frozenset(entry.models) if entry.models is not None else None,
                rpm=entry.rpm,
                tpm=entry.tpm,
                budget_usd=entry.budget_usd,
                budget_period=entry.budget_period,
            )

    @property
    def callers(self) -> list[Caller]:
        return list(self._by_digest.values())

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        return self.caller_of(presented_key(headers))

    def authenticate_raw(self, authorization: bytes | None, api_key: bytes | None) -> Caller:
        """``authenticate`` from the raw values (latin-1 bytes) of the ``authorization``
        and ``api-key`` headers. A key's canonical ``Bearer <key>`` header, once it
        matched, is remembered as it came: the next request with it is one lookup,
        without decoding and parsing the header (one entry per key, whatever else
        clients send)."""
        if authorization is not None:
            caller = self._by_header.get(authorization)
            if caller is not None:
                return caller
        key = key_of(
            authorization.decode("latin-1") if authorization is not None else None,
            api_key.decode("latin-1") if api_key is not None else None,
        )
        caller = self.caller_of(key)
        if key and authorization == b"Bearer " + key.encode("latin-1"):
            self._by_header[authorization] = caller
        return caller

    def caller_of(self, key: str | None) -> Caller:
        """The caller whose key this is; a 401 for none or an unknown one."""
        if not key:
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
        caller = self._accepted.get(key)
        if caller is not None:
            return caller
        caller = self._by_digest.get(_digest(key))
        if caller is None:
            raise AuthenticationError("invalid API key")
        # Only keys that matched are remembered: as many as the config has keys.
        self._accepted[key] = caller
        return caller
