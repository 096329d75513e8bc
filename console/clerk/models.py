"""Pydantic models of what crosses the wire: the create payload, the User,
Clerk's error shape, counts and deleted objects.

`CreateUserPayload` forbids unknown fields, like Clerk's schema
(`additionalProperties: false`), so nothing outside the body schema can be sent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PASSWORD_HASHERS: frozenset[str] = frozenset(
    {
        "argon2i",
        "argon2id",
        "awscognito",
        "bcrypt",
        "bcrypt_peppered",
        "bcrypt_sha256_django",
        "hmac_sha256_utf16_b64",
        "ldap_ssha",
        "md5",
        "md5_phpass",
        "md5_salted",
        "pbkdf2_sha1",
        "pbkdf2_sha256",
        "pbkdf2_sha256_django",
        "pbkdf2_sha512",
        "pbkdf2_sha512_hex",
        "phpass",
        "scrypt_firebase",
        "scrypt_werkzeug",
        "sha256",
        "sha256_salted",
        "sha512_symfony",
    }
)

IdentificationStatus = Literal["verified", "reserved"]


class CreateUserPayload(BaseModel):
    """Body of POST /v1/users. Only set fields are sent (`to_body`)."""

    model_config = ConfigDict(extra="forbid")

    external_id: str | None = None
    email_address: list[str] | None = None
    email_address_identification_status: list[IdentificationStatus] | None = None
    phone_number: list[str] | None = None
    phone_number_identification_status: list[IdentificationStatus] | None = None
    web3_wallet: list[str] | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    password: str | None = None
    password_digest: str | None = None
    password_hasher: str | None = None
    skip_password_checks: bool | None = None
    skip_password_requirement: bool | None = None
    totp_secret: str | None = None
    backup_codes: list[str] | None = None
    public_metadata: dict[str, Any] | None = None
    private_metadata: dict[str, Any] | None = None
    unsafe_metadata: dict[str, Any] | None = None
    delete_self_enabled: bool | None = None
    legal_accepted_at: str | None = None
    skip_legal_checks: bool | None = None
    skip_user_requirement: bool | None = None
    create_organization_enabled: bool | None = None
    create_organizations_limit: int | None = None
    created_at: str | None = None
    banned: bool | None = None
    locked: bool | None = None
    bypass_client_trust: bool | None = None

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


CREATE_FIELDS: frozenset[str] = frozenset(CreateUserPayload.model_fields)


class Verification(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str = "verification_admin"
    status: str = "verified"
    strategy: str = "admin"
    attempts: int | None = None
    expire_at: int | None = None


class EmailAddress(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: str = "email_address"
    email_address: str
    reserved: bool = False
    verification: Verification | None = None
    linked_to: list[dict[str, Any]] = Field(default_factory=list)
    created_at: int | None = None
    updated_at: int | None = None


class User(BaseModel):
    """The subset of Clerk's User that the migration reads; the rest is kept."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: str = "user"
    external_id: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    primary_email_address_id: str | None = None
    email_addresses: list[EmailAddress] = Field(default_factory=list)
    password_enabled: bool = False
    public_metadata: dict[str, Any] = Field(default_factory=dict)
    private_metadata: dict[str, Any] = Field(default_factory=dict)
    unsafe_metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: int | None = None  # milliseconds since the epoch
    updated_at: int | None = None
    last_sign_in_at: int | None = None

    @property
    def primary_email(self) -> EmailAddress | None:
        for address in self.email_addresses:
            if address.id == self.primary_email_address_id:
                return address
        return self.email_addresses[0] if self.email_addresses else None


class ErrorItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str = ""
    long_message: str | None = None
    code: str = "unknown"
    meta: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    errors: list[ErrorItem]
    clerk_trace_id: str | None = None


class TotalCount(BaseModel):
    object: str = "total_count"
    total_count: int


class DeletedObject(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str = "user"
    id: str | None = None
    deleted: bool = True
    external_id: str | None = None
