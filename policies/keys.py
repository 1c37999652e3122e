"""Key references of the policy language: where key material comes from and how it is used.

A policy never holds key material. It names keys and says where each one lives::

    keys:
      pii-hmac: {env: REDACTLINE_HMAC_KEY}
      tokens:   {file: keys/token.key}      # relative to the policy file's directory

Encoding of the material (the environment value, or the file content with surrounding whitespace
stripped) is one of:

* hex, e.g. the output of ``openssl rand -hex 32``;
* ``base64:`` followed by standard base64 with padding, e.g. ``base64:$(openssl rand -base64 32)``.

At least 32 bytes of material are required. An empty, short or undecodable value, a missing
environment variable, an unreadable file, a key file over 4 KiB or one that is not a regular file
(``/dev/zero``, a FIFO, a directory) is a :class:`KeyResolutionError`; error messages name the
key and the variable or path, never the material.

A master key is never used directly. :meth:`Key.derive` gives an HKDF-SHA256 subkey per purpose, so
the same master key can back ``hash``, ``tokenize`` and ``date_shift`` without being used by two
algorithms. :attr:`Key.key_id` is a public fingerprint, safe to record in outputs and manifests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .bounded_io import KIB, BoundedReadError, read_bounded

MIN_KEY_BYTES = 32
#: Largest key file read (bytes); hex or base64 text of a key is far smaller.
MAX_KEY_FILE_BYTES = 4 * KIB

#: Purposes a subkey may be derived for. A closed set: a typo must fail, not silently yield another key.
PURPOSES = frozenset({"hmac", "aes-siv", "date-shift"})

_KEY_ID_MESSAGE = b"redactline key id"
_HKDF_INFO_PREFIX = b"redactline/v1/"
_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64_PREFIX = "base64:"


class KeySpec(BaseModel):
    """Where a named key's material comes from: exactly one of ``env`` or ``file``."""

    # hide_input_in_errors: material pasted inline by mistake must not be echoed into logs.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    env: str | None = Field(None, min_length=1, description="environment variable holding the key")
    file: str | None = Field(
        None, min_length=1, description="file holding the key, relative to the policy file's directory"
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> KeySpec:
        if (self.env is None) == (self.file is None):
            raise ValueError("a key reference needs exactly one of 'env' or 'file'")
        return self


class KeyResolutionError(ValueError):
    """A key reference could not be turned into usable key material.

    The message names the key and the source (variable name or path), never the material.
    """

    def __init__(self, key_name: str, problem: str, *, refused: bool = False) -> None:
        super().__init__(f"key {key_name!r}: {problem}")
        self.key_name = key_name
        self.refused = refused  # the file itself is refused (not a regular file, over the size limit)


@dataclass(frozen=True)
class Key:
    """Resolved key material under a policy-local name.

    ``key_id`` is computed from the material (``name:`` + first 16 hex digits of
    HMAC-SHA256(material, "redactline key id")) so it can never disagree with it.
    The material is kept out of ``repr``.
    """

    name: str
    material: bytes = field(repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.material) < MIN_KEY_BYTES:
            raise KeyResolutionError(
                self.name, f"key material is {len(self.material)} bytes, at least {MIN_KEY_BYTES} required"
            )
        fingerprint = hmac.new(self.material, _KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:16]
        object.__setattr__(self, "key_id", f"{self.name}:{fingerprint}")

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """Return an HKDF-SHA256 subkey of ``length`` bytes for ``purpose`` (one of :data:`PURPOSES`)."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown key purpose {purpose!r}; expected one of {sorted(PURPOSES)}")
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=None,
            info=_HKDF_INFO_PREFIX + purpose.encode("ascii"),
        )
        return hkdf.derive(self.material)


def decode_key_material(key_name: str, text: str) -> bytes:
    """Decode hex or ``base64:``-prefixed key text (surrounding whitespace ignored) into bytes."""
    text = text.strip()
    if not text:
        raise KeyResolutionError(key_name, "key material is empty")
    if text.startswith(_BASE64_PREFIX):
        try:
            material = base64.b64decode(text[len(_BASE64_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            # `from None`: the underlying error must not carry any of the text along.
            raise KeyResolutionError(key_name, "key material after 'base64:' is not valid base64") from None
    else:
        if not _HEX.fullmatch(text) or len(text) % 2:
            raise KeyResolutionError(key_name, "key material is neither hex nor 'base64:'-prefixed base64")
        material = bytes.fromhex(text)
    if len(material) < MIN_KEY_BYTES:
        raise KeyResolutionError(
            key_name, f"key material is {len(material)} bytes, at least {MIN_KEY_BYTES} required"
        )
    return material


def _read_key_file(key_name: str, path: Path) -> str:
    # Bounded: a key file is a few dozen bytes; /dev/zero, a FIFO or a directory is refused unread.
    try:
        raw = read_bounded(path, MAX_KEY_FILE_BYTES)
    except BoundedReadError as exc:
        if exc.missing:
            raise KeyResolutionError(key_name, f"key file {str(path)!r} does not exist") from None
        problem = f"({exc.os_error})" if exc.os_error else f"({exc.reason})"
        message = f"key file {str(path)!r} cannot be read {problem}"
        raise KeyResolutionError(key_name, message, refused=not exc.os_error) from None
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        # The decode error would quote a byte of the file: drop it.
        raise KeyResolutionError(key_name, f"key file {str(path)!r} is not ASCII text") from None


def resolve_key(name: str, spec: KeySpec, base_dir: Path, environ: Mapping[str, str] | None = None) -> Key:
    """Load and decode the key ``name`` described by ``spec``.

    ``base_dir`` anchors relative file paths (the policy file's directory); ``environ`` defaults to
    ``os.environ`` and is injectable for tests.
    """
    if spec.env is not None:
        env = os.environ if environ is None else environ
        text = env.get(spec.env)
        if text is None:
            raise KeyResolutionError(name, f"environment variable {spec.env!r} is not set")
    else:
        assert spec.file is not None  # guaranteed by KeySpec's validator
        text = _read_key_file(name, Path(base_dir) / spec.file)
    return Key(name=name, material=decode_key_material(name, text))


def resolve_keys(
    specs: Mapping[str, KeySpec], base_dir: Path, environ: Mapping[str, str] | None = None
) -> dict[str, Key]:
    """Resolve every key of a policy's ``keys`` section; the first failure raises."""
    return {name: resolve_key(name, spec, base_dir, environ) for name, spec in specs.items()}
