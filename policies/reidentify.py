"""Re-identification: put the original values back into an LLM's answer, locally.

The ``pseudonym`` operator replaces each detected value with a placeholder ``<ENTITY_TYPE_n>`` and
records placeholder -> original in the record's :class:`~redactline.policies.operators.RecordContext`.
Only placeholders leave; a :class:`Vault` keeps the originals in memory (sealed on disk only when
asked) and restores them in the answer.

Matching rules (why they are safe):

* **Literal lookup, never a regular expression built from data.** Entity types come from policy
  configuration and may contain regex metacharacters (``ID.NO+``, ``C++(X)``). The scanner looks for
  ``<`` ... ``>`` spans of bounded length in the answer and looks each one up in a dict; nothing from
  the vault or the answer is ever compiled into a pattern.
* **Tolerant to what models do to placeholders:** case (``<person_1>``), white space inside the
  brackets (``< PERSON_1 >``, ``<PERSON _1>``) and white space written instead of an underscore
  (``<PERSON 1>``, ``<EMAIL ADDRESS_1>``). The lookup key is the bracket content split into words at
  runs of white space and underscores, case-folded. Word boundaries are kept, so ``<PERSON_1 1>``
  does *not* become ``<PERSON_11>``; digits are never joined or split.
* **Never the wrong person.** If two placeholders of one vault share a tolerant key (entity types that
  differ only in case, or in ``_`` versus space), that key is dropped and only their exact spelling is
  restored. Placeholders the vault does not know (another record's, or invented by the model) stay
  exactly as they are.
* **Not tolerated:** a missing bracket (``PERSON_1``), other brackets (``[PERSON_1]``) or a changed
  number. Guessing there could restore a value into text the model wrote about something else.

The bracket content may be at most :data:`SLACK` characters longer than the longest placeholder of the
vault; that bound is also the most a streaming re-identifier ever holds back.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .sealing import NotSealed, SealingError, SealingKey

if TYPE_CHECKING:
    from .operators import RecordContext

#: Extra characters (white space) a model may add inside a placeholder's brackets.
SLACK = 16

_VAULT_PURPOSE = "vault"  # the sealing purpose (policies/sealing.py): a vault's own derived key


class VaultError(ValueError):
    """A vault that cannot be built or opened. Messages never contain placeholder values."""


def _key_of(inner: str) -> tuple[str, ...]:
    """Tolerant lookup key of a placeholder's bracket content: words split at white space and ``_``."""
    words = unicodedata.normalize("NFC", inner).replace("_", " ").split()
    return tuple(word.casefold() for word in words)


class Vault:
    """In-memory map placeholder -> original value, and the re-identification of answers.

    One vault serves one record or one proxied request: ``<PERSON_1>`` means different people in
    different records, so :meth:`add` refuses a placeholder that is already mapped to another value.
    """

    def __init__(self, entries: Mapping[str, str] | None = None) -> None:
        self._entries: dict[str, str] = {}
        self._index: dict[tuple[str, ...], str] | None = None
        self._window = 0
        if entries:
            self.add(entries)

    # --- building -------------------------------------------------------------------------------
    @classmethod
    def from_context(cls, ctx: RecordContext) -> Vault:
        """The vault of a record's pseudonyms (``ctx.vault``)."""
        return cls(ctx.vault)

    def add(self, mapping: Mapping[str, str]) -> None:
        """Add placeholder -> original pairs. A placeholder must look like ``<...>``."""
        for placeholder, original in mapping.items():
            if not (isinstance(placeholder, str) and isinstance(original, str)):
                raise VaultError("vault entries must map str placeholders to str values")
            if len(placeholder) < 3 or placeholder[0] != "<" or placeholder[-1] != ">":
                raise VaultError("a placeholder must be written <ENTITY_TYPE_n>")
            known = self._entries.get(placeholder)
            if known is not None and known != original:
                raise VaultError("a placeholder is already mapped to another value (one vault per record)")
            self._entries[placeholder] = original
        self._index = None

    def _lookup_index(self) -> dict[tuple[str, ...], str]:
        if self._index is None:
            index: dict[tuple[str, ...], str] = {}
            ambiguous: set[tuple[str, ...]] = set()
            for placeholder in self._entries:
                key = _key_of(placeholder[1:-1])
                if key in index and index[key] != placeholder:
                    ambiguous.add(key)
                index[key] = placeholder
            for key in ambiguous:
                del index[key]
            self._index = index
            longest = max((len(p) for p in self._entries), default=0)
            self._window = longest + SLACK if longest else 0
        return self._index

    # --- mapping protocol without values in sight ------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, placeholder: object) -> bool:
        return placeholder in self._entries

    def placeholders(self) -> frozenset[str]:
        """The placeholders this vault can restore (no values)."""
        return frozenset(self._entries)

    def __repr__(self) -> str:
        return f"Vault(<{len(self._entries)} entries>)"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("Vault holds original values and cannot be pickled or copied")

    # --- re-identification -----------------------------------------------------------------------
    def _resolve(self, candidate: str) -> str | None:
        """The original value for a ``<...>`` candidate, or None."""
        exact = self._entries.get(candidate)
        if exact is not None:
            return exact
        placeholder = self._lookup_index().get(_key_of(candidate[1:-1]))
        return None if placeholder is None else self._entries[placeholder]

    def _match_at(self, text: str, start: int) -> tuple[int, str] | None | bool:
        """At a ``<`` at ``start``: (end, original) for the shortest known placeholder starting there,
        None when there is none, False when ``text`` ends before the window closes (undecided)."""
        window = self._window
        limit = start + window  # exclusive bound for the closing '>'
        close = text.find(">", start + 1, min(limit, len(text)))
        while close >= 0:
            original = self._resolve(text[start : close + 1])
            if original is not None:
                return close + 1, original
            close = text.find(">", close + 1, min(limit, len(text)))
        return False if len(text) < limit else None

    def _scan(self, text: str, final: bool) -> tuple[str, int]:
        """Re-identify ``text``; return (output, consumed). Unless ``final``, stop at a possibly
        incomplete placeholder near the end and leave it unconsumed."""
        self._lookup_index()
        if not self._entries:
            return text, len(text)
        out: list[str] = []
        cursor = 0
        search = 0
        while (start := text.find("<", search)) >= 0:
            found = self._match_at(text, start)
            if found is False:
                if not final:
                    out.append(text[cursor:start])
                    return "".join(out), start
                found = None
            if found is None:
                search = start + 1
                continue
            end, original = found  # type: ignore[misc]
            out.append(text[cursor:start])
            out.append(original)
            cursor = search = end
        out.append(text[cursor:])
        return "".join(out), len(text)

    def reidentify(self, text: str) -> str:
        """``text`` with every placeholder this vault knows replaced by its original value."""
        return self._scan(text, final=True)[0]

    def stream(self) -> StreamingReidentifier:
        """A re-identifier for text that arrives in pieces (SSE deltas)."""
        return StreamingReidentifier(self)

    # --- sealed storage --------------------------------------------------------------------------
    def seal(self, path: str | os.PathLike[str], key: bytes, *, nonce: bytes | None = None) -> None:
        """Write the vault to ``path`` in the at-rest sealing format (:mod:`.sealing`: AES-256-GCM,
        versioned header, purpose ``vault``) under ``key`` (32 bytes), mode 0600.

        The file is written next to its destination and renamed into place, so a crash never leaves a
        partial file; plaintext never touches the disk. ``nonce`` only for the known-answer vector
        (``tests/vectors/sealed-vault-v1.json``); production draws a fresh one.
        """
        plaintext = json.dumps(self._entries, ensure_ascii=False, sort_keys=True).encode("utf-8")
        blob = _vault_key(key).seal(plaintext, nonce=nonce)
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=".vault-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def open_sealed(cls, path: str | os.PathLike[str], key: bytes) -> Vault:
        """Read a vault written by :meth:`seal`; :class:`VaultError` on a wrong key or a damaged file."""
        sealing_key = _vault_key(key)
        blob = Path(path).read_bytes()
        try:
            plaintext = sealing_key.open(blob)
        except NotSealed:
            raise VaultError("not a sealed redactline vault") from None
        except SealingError:
            raise VaultError("cannot open the sealed vault: wrong key or damaged file") from None
        return cls(json.loads(plaintext.decode("utf-8")))


def _vault_key(key: bytes) -> SealingKey:
    if not isinstance(key, bytes | bytearray) or len(key) != 32:
        raise VaultError("a vault key must be 32 bytes (AES-256)")
    return SealingKey(bytes(key), _VAULT_PURPOSE)


class StreamingReidentifier:
    """Re-identifies text fed in pieces; the concatenated output equals ``vault.reidentify(whole)``.

    :meth:`feed` returns what can be released now and holds back a possibly incomplete placeholder at
    the end (at most the vault's longest placeholder plus :data:`SLACK` characters); :meth:`finish`
    releases the rest. Call ``finish`` before the stream ends (the proxy does so at ``finish_reason``
    and before ``[DONE]``).
    """

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._pending = ""

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        out, consumed = self._vault._scan(text, final=False)
        self._pending = text[consumed:]
        return out

    def finish(self) -> str:
        out, _ = self._vault._scan(self._pending, final=True)
        self._pending = ""
        return out

    @property
    def pending(self) -> int:
        """How many characters are held back (for tests and metrics; not their content)."""
        return len(self._pending)

    def __repr__(self) -> str:
        return f"StreamingReidentifier(pending={len(self._pending)})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("StreamingReidentifier holds original values and cannot be pickled or copied")

