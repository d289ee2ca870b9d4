"""Sealing testimony text so that a copy of the database reveals nothing.

Threat: someone obtains the database, or the database together with the public
server's configuration. Neither holds a private key, so neither can read a single
testimony. Only the moderation side, which holds the private key, can open them.

Testimony text (``seal`` / ``open``): a fresh 256-bit data key per value encrypts
the padded text with AES-256-GCM; the data key is wrapped with HPKE (RFC 9180:
X25519, HKDF-SHA256, AES-256-GCM) to the active public key. Layout::

    b"UT\\x01" | key id (8) | wrapped data key (80) | nonce (12) | ciphertext + tag

Campaign text (``seal_campaign`` / ``open_campaign``), the moderator's redacted
copy, is sealed with AES-256-GCM under the campaign-text key: a random 256-bit key
(``new_campaign_key``), so export stays symmetric and fast while the public site
still cannot read it. A deployment from the first release used a key derived (HKDF)
from the story private key instead, named by that key's id; such keys still open::

    b"UT\\x02" | key id (8) | nonce (12) | ciphertext + tag

People hold the keys (``wrap_account_key``, ``seal_secret``): each staff account has
its own X25519 pair whose private half is wrapped (AES-256-GCM) under a key derived
from the account's password with Argon2id (``ACCOUNT_KDF``); a campaign secret is
granted to an account by sealing it (HPKE) to the account's public key. The offline
key file (``key_file_text``) holds the story private key as PEM and the campaign-text
key sealed to that story key, so the file's passphrase protects both.

Both bind the record id and the field name into the authenticated data, so a value
copied to another row or field fails to open. Plaintext is padded to 1 KiB buckets
so that the stored length says little about the text. Every failure raises
``SealError``; nothing here ever returns ciphertext or an empty string as if it were
text. No timestamps are stored (which is why Fernet is not used).

This module knows nothing about Django.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
SEALED_V1 = b"UT\x01"
CAMPAIGN_V1 = b"UT\x02"
HEADER_LENGTH = 3
KEY_ID_LENGTH = 8
DATA_KEY_LENGTH = 32
WRAPPED_KEY_LENGTH = KEM.X25519.enc_length() + DATA_KEY_LENGTH + 16
NONCE_LENGTH = 12
TAG_LENGTH = 16
BUCKET = 1024
SEALED_OVERHEAD = HEADER_LENGTH + KEY_ID_LENGTH + WRAPPED_KEY_LENGTH + NONCE_LENGTH + TAG_LENGTH
LENGTH_PREFIX = struct.Struct(">I")
CAMPAIGN_KEY_INFO = b"untold campaign text key v1"
CAMPAIGN_KEY_ID_INFO = b"untold campaign text key id v1"
# Argon2id for the account key's wrapping key (RFC 9106's second recommended option,
# with 2 lanes for this machine's 2 cores): 3 passes over 64 MiB. Measured by
# bench/custody.py; stored with each account key so that it can be raised later.
ACCOUNT_KDF = {"name": "argon2id", "iterations": 3, "memory_cost": 64 * 1024, "lanes": 2}
SALT_LENGTH = 16
ACCOUNT_KEY_V1 = b"UA\x01"
CAMPAIGN_BLOCK = "UNTOLD CAMPAIGN TEXT KEY"


class SealError(Exception):
    """A value could not be sealed or opened. The message never contains text."""


class UnknownKeyError(SealError):
    """The value names a key id that is not loaded here."""

    def __init__(self, key_id: bytes, *, private: bool) -> None:
        self.key_id = key_id
        kind = "private key" if private else "key"
        super().__init__(f"sealed to key id {key_id.hex()}, whose {kind} is not loaded here")


class NoPrivateKeyError(SealError):
    """This process holds only public keys (the intake role): it cannot open anything."""


def key_id(public_key: X25519PublicKey) -> bytes:
    """The first 8 bytes of SHA-256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_LENGTH]


def public_key_to_text(public_key: X25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def public_key_from_text(text: str) -> X25519PublicKey:
    """Parse the base64 form used in ``UNTOLD_PUBLIC_KEYS``; raises SealError if malformed."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return X25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as error:
        raise SealError("not a base64-encoded 32-byte X25519 public key") from error


def private_key_to_pem(private_key: X25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(pem: bytes, passphrase: bytes | None = None) -> X25519PrivateKey:
    """Load a PKCS#8 PEM private key; raises SealError (without the key) on any problem."""
    try:
        private_key = serialization.load_pem_private_key(pem, password=passphrase or None)
    except TypeError as error:
        # cryptography says whether a passphrase was missing or unexpected.
        raise SealError(str(error)) from error
    except ValueError as error:
        raise SealError("not a PEM private key, or the passphrase is wrong") from error
    if not isinstance(private_key, X25519PrivateKey):
        raise SealError("the private key is not an X25519 key")
    return private_key


def context(record_id: UUID, field_name: str) -> bytes:
    """What binds a value to its place: the record's UUID and the field's name."""
    return b"untold|" + record_id.bytes + b"|" + field_name.encode("ascii")


def pad(text: str) -> bytes:
    data = text.encode("utf-8")
    padded_length = -(-(LENGTH_PREFIX.size + len(data)) // BUCKET) * BUCKET
    return (LENGTH_PREFIX.pack(len(data)) + data).ljust(padded_length, b"\0")


def unpad(padded: bytes) -> str:
    if len(padded) < LENGTH_PREFIX.size:
        raise SealError("the opened value is too short to hold a length")
    (length,) = LENGTH_PREFIX.unpack_from(padded)
    end = LENGTH_PREFIX.size + length
    if end > len(padded) or padded[end:].strip(b"\0"):
        raise SealError("the opened value's padding is malformed")
    try:
        return padded[LENGTH_PREFIX.size : end].decode("utf-8")
    except UnicodeDecodeError as error:
        raise SealError("the opened value is not UTF-8 text") from error


def derive_campaign_key(private_key: X25519PrivateKey) -> bytes:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CAMPAIGN_KEY_INFO).derive(raw)


def new_campaign_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def campaign_key_id(key: bytes) -> bytes:
    """A random campaign-text key's id: a one-way function of the key."""
    return hashlib.sha256(CAMPAIGN_KEY_ID_INFO + key).digest()[:KEY_ID_LENGTH]


def sealed_key_id(sealed: bytes) -> bytes:
    """The key id a sealed value names in its header; raises SealError if malformed."""
    sealed = bytes(sealed)
    if sealed[:HEADER_LENGTH] not in (SEALED_V1, CAMPAIGN_V1):
        raise SealError("not a sealed value (unknown header)")
    if len(sealed) < HEADER_LENGTH + KEY_ID_LENGTH:
        raise SealError("the sealed value is truncated")
    return sealed[HEADER_LENGTH : HEADER_LENGTH + KEY_ID_LENGTH]


@dataclass(frozen=True)
class Keyring:
    """The keys one process, session or command holds. The first public key is the
    active one, to which new testimonies are sealed. ``private_keys`` maps story key ids
    to private keys and is empty in the intake role and for campaign staff;
    ``campaign_keys`` maps campaign-text key ids to keys, and ``campaign_key_id`` names
    the one new campaign texts are sealed under (the active story key's derived key
    when none is named, as in the first release)."""

    public_keys: tuple[X25519PublicKey, ...]
    private_keys: Mapping[bytes, X25519PrivateKey] = field(default_factory=dict, repr=False)
    campaign_keys: Mapping[bytes, bytes] = field(default_factory=dict, repr=False)
    campaign_key_id: bytes | None = None
    # One AESGCM per key: export opens many campaign texts in a row.
    ciphers: Mapping[bytes, AESGCM] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ciphers = {kid: AESGCM(key) for kid, key in self.campaign_keys.items()}
        object.__setattr__(self, "ciphers", ciphers)

    @classmethod
    def load(
        cls,
        public_texts: Iterable[str] = (),
        private_pems: Iterable[bytes] = (),
        passphrase: bytes | None = None,
        campaign_key_id: bytes | None = None,
    ) -> Keyring:
        """Build a keyring from configuration: public keys and key files. With key files
        but no public keys, the first file's story key is the active key."""
        files = [read_key_file(pem, passphrase) for pem in private_pems]
        public_keys = [public_key_from_text(text) for text in public_texts]
        if not public_keys:
            public_keys = [file.private_key.public_key() for file in files]
        if not public_keys:
            raise SealError("no public key is configured")
        return cls(
            public_keys=tuple(public_keys),
            private_keys={key_id(f.private_key.public_key()): f.private_key for f in files},
            campaign_keys={kid: key for f in files for kid, key in f.campaign_keys().items()},
            campaign_key_id=campaign_key_id,
        )

    def holding(
        self, private_keys: Mapping[bytes, X25519PrivateKey], campaign_keys: Mapping[bytes, bytes]
    ) -> Keyring:
        """The same public keys and campaign key id, with these secrets instead."""
        return Keyring(self.public_keys, private_keys, campaign_keys, self.campaign_key_id)

    @cached_property
    def active_key_id(self) -> bytes:
        return key_id(self.public_keys[0])

    @property
    def active_campaign_id(self) -> bytes:
        return self.campaign_key_id or self.active_key_id

    @property
    def can_open(self) -> bool:
        """Whether stories open here (a story private key is held)."""
        return bool(self.private_keys)

    @property
    def can_open_campaign(self) -> bool:
        return bool(self.campaign_keys)

    def _private_key(self, wanted: bytes) -> X25519PrivateKey:
        return self._held(self.private_keys, wanted)

    def _campaign_key(self, wanted: bytes) -> AESGCM:
        return self._held(self.ciphers, wanted)

    def _held(self, keys: Mapping[bytes, Any], wanted: bytes) -> Any:
        if not keys:
            raise NoPrivateKeyError("no key that opens this is held here")
        try:
            return keys[wanted]
        except KeyError:
            raise UnknownKeyError(wanted, private=True) from None

    # --- testimony text, sealed to a public key ---------------------------------------

    def seal(self, text: str, *, record_id: UUID, field_name: str) -> bytes:
        if not isinstance(text, str):
            raise SealError("only text can be sealed")
        where = context(record_id, field_name)
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_LENGTH)
        body = AESGCM(data_key).encrypt(nonce, pad(text), SEALED_V1 + where)
        return self._wrap(data_key, where) + nonce + body

    def open(self, sealed: bytes, *, record_id: UUID, field_name: str) -> str:
        where = context(record_id, field_name)
        return unpad(self._open_body(bytes(sealed), where)[3])

    def rewrap(self, sealed: bytes, *, record_id: UUID, field_name: str) -> bytes:
        """Wrap the value's data key to the active key; the body is kept byte for byte.
        The body is checked first, so a damaged value is reported, not re-wrapped."""
        where = context(record_id, field_name)
        data_key, nonce, body, _ = self._open_body(bytes(sealed), where)
        return self._wrap(data_key, where) + nonce + body

    def _open_body(self, sealed: bytes, where: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """The data key, nonce and body of a sealed value, and the padded text they hold."""
        data_key, nonce, body = self._unwrap(sealed, where)
        try:
            padded = AESGCM(data_key).decrypt(nonce, body, SEALED_V1 + where)
        except InvalidTag:
            raise SealError("the sealed text was altered or belongs elsewhere") from None
        return data_key, nonce, body, padded

    def _wrap(self, data_key: bytes, where: bytes) -> bytes:
        header = SEALED_V1 + self.active_key_id
        return header + SUITE.encrypt(data_key, self.public_keys[0], info=header + where)

    def _unwrap(self, sealed: bytes, where: bytes) -> tuple[bytes, bytes, bytes]:
        if sealed[:HEADER_LENGTH] != SEALED_V1:
            raise SealError("not a sealed testimony value (unknown header)")
        minimum = HEADER_LENGTH + KEY_ID_LENGTH + WRAPPED_KEY_LENGTH + NONCE_LENGTH + TAG_LENGTH
        if len(sealed) < minimum:
            raise SealError("the sealed value is truncated")
        header_end = HEADER_LENGTH + KEY_ID_LENGTH
        header, wrapped_end = sealed[:header_end], header_end + WRAPPED_KEY_LENGTH
        private_key = self._private_key(header[HEADER_LENGTH:])
        try:
            data_key = SUITE.decrypt(
                sealed[header_end:wrapped_end], private_key, info=header + where
            )
        except (InvalidTag, ValueError):
            raise SealError("the wrapped key was altered or belongs elsewhere") from None
        nonce_end = wrapped_end + NONCE_LENGTH
        return data_key, sealed[wrapped_end:nonce_end], sealed[nonce_end:]

    # --- campaign text, sealed under a key derived from the private key ---------------

    def seal_campaign(self, text: str, *, record_id: UUID, field_name: str) -> bytes:
        if not isinstance(text, str):
            raise SealError("only text can be sealed")
        header = CAMPAIGN_V1 + self.active_campaign_id
        key = self._campaign_key(self.active_campaign_id)
        nonce = os.urandom(NONCE_LENGTH)
        body = key.encrypt(nonce, pad(text), header + context(record_id, field_name))
        return header + nonce + body

    def open_campaign(self, sealed: bytes, *, record_id: UUID, field_name: str) -> str:
        sealed = bytes(sealed)
        if sealed[:HEADER_LENGTH] != CAMPAIGN_V1:
            raise SealError("not a sealed campaign value (unknown header)")
        header_end = HEADER_LENGTH + KEY_ID_LENGTH
        if len(sealed) < header_end + NONCE_LENGTH + TAG_LENGTH:
            raise SealError("the sealed value is truncated")
        header = sealed[:header_end]
        key = self._campaign_key(header[HEADER_LENGTH:])
        nonce, body = (
            sealed[header_end : header_end + NONCE_LENGTH],
            sealed[header_end + NONCE_LENGTH :],
        )
        try:
            padded = key.decrypt(nonce, body, header + context(record_id, field_name))
        except InvalidTag:
            raise SealError("the campaign text was altered or belongs elsewhere") from None
        return unpad(padded)


def generate_private_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def raw_private(private_key: X25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def raw_public(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- the offline key file ------------------------------------------------------------


@dataclass(frozen=True)
class KeyFile:
    """What a key file holds: a story private key and, in files this release writes,
    the campaign-text key (``campaign_key``; None in a first-release file)."""

    private_key: X25519PrivateKey = field(repr=False)
    campaign_key: bytes | None = field(default=None, repr=False)

    def campaign_keys(self) -> dict[bytes, bytes]:
        """The campaign-text keys this file opens: its own, or, for a first-release
        file, the key derived from its story key (named by the story key's id)."""
        if self.campaign_key is not None:
            return {campaign_key_id(self.campaign_key): self.campaign_key}
        return {key_id(self.private_key.public_key()): derive_campaign_key(self.private_key)}


def key_file_text(
    private_key: X25519PrivateKey, campaign_key: bytes, passphrase: bytes | None = None
) -> bytes:
    """The offline key file: the story key as PEM, then the campaign-text key sealed
    (HPKE) to the story key, so that whoever opens the one opens the other."""
    sealed = SUITE.encrypt(campaign_key, private_key.public_key(), info=CAMPAIGN_KEY_INFO)
    block = base64.encodebytes(sealed).decode("ascii")
    campaign = f"-----BEGIN {CAMPAIGN_BLOCK}-----\n{block}-----END {CAMPAIGN_BLOCK}-----\n"
    return private_key_to_pem(private_key, passphrase) + campaign.encode("ascii")


def read_key_file(text: bytes, passphrase: bytes | None = None) -> KeyFile:
    """Read a key file (or a first-release PEM file); raises SealError, never with a key."""
    begin, end = f"-----BEGIN {CAMPAIGN_BLOCK}-----".encode(), f"-----END {CAMPAIGN_BLOCK}-----"
    pem, _, rest = bytes(text).partition(begin)
    private_key = private_key_from_pem(pem, passphrase)
    if not rest:
        return KeyFile(private_key)
    try:
        sealed = base64.b64decode(rest.partition(end.encode())[0])
        campaign_key = SUITE.decrypt(sealed, private_key, info=CAMPAIGN_KEY_INFO)
    except (binascii.Error, InvalidTag, ValueError):
        raise SealError("the key file's campaign-text key is damaged") from None
    return KeyFile(private_key, campaign_key)


# --- keys held by people -------------------------------------------------------------


def account_wrapping_key(password: str, salt: bytes, kdf: Mapping[str, Any]) -> bytes:
    """The key that wraps an account's private key, derived from its password."""
    if kdf.get("name") != "argon2id":
        raise SealError("unknown key derivation for the account key")
    return Argon2id(
        salt=salt,
        length=32,
        iterations=int(kdf["iterations"]),
        lanes=int(kdf["lanes"]),
        memory_cost=int(kdf["memory_cost"]),
    ).derive(password.encode("utf-8"))


def wrap_account_key(private_key: X25519PrivateKey, wrapping_key: bytes, owner: bytes) -> bytes:
    """The account's private key, sealed under its wrapping key and bound to ``owner``
    (the account's id), so that a wrapped key copied to another account fails."""
    nonce = os.urandom(NONCE_LENGTH)
    body = AESGCM(wrapping_key).encrypt(nonce, raw_private(private_key), ACCOUNT_KEY_V1 + owner)
    return ACCOUNT_KEY_V1 + nonce + body


def unwrap_account_key(wrapped: bytes, wrapping_key: bytes, owner: bytes) -> X25519PrivateKey:
    wrapped = bytes(wrapped)
    if wrapped[:HEADER_LENGTH] != ACCOUNT_KEY_V1:
        raise SealError("not a wrapped account key")
    nonce = wrapped[HEADER_LENGTH : HEADER_LENGTH + NONCE_LENGTH]
    try:
        raw = AESGCM(wrapping_key).decrypt(
            nonce, wrapped[HEADER_LENGTH + NONCE_LENGTH :], ACCOUNT_KEY_V1 + owner
        )
    except InvalidTag:
        raise SealError("the password does not open this account key") from None
    return X25519PrivateKey.from_private_bytes(raw)


def seal_secret(secret: bytes, public_key: X25519PublicKey, info: bytes) -> bytes:
    """A campaign secret sealed (HPKE) to one account's public key; ``info`` binds it to
    that account, the kind of secret and its key id."""
    return SUITE.encrypt(secret, public_key, info=info)


def open_secret(sealed: bytes, private_key: X25519PrivateKey, info: bytes) -> bytes:
    try:
        return SUITE.decrypt(bytes(sealed), private_key, info=info)
    except (InvalidTag, ValueError):
        raise SealError("the grant was altered or belongs to another account") from None
