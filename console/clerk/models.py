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


class VerificationCore(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str = "verified"


class EmailAddressCore(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    email_address: str
    verification: VerificationCore | None = None


class UserCore(BaseModel):
    """What verify compares of a Clerk user, and nothing else (the rest of the answer is
    skipped while it is parsed: 4.1 us per user instead of 9.6 for `User`). For reads
    that only compare; `User` keeps everything."""

    model_config = ConfigDict(extra="ignore")

    id: str
    external_id: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    primary_email_address_id: str | None = None
    email_addresses: list[EmailAddressCore] = Field(default_factory=list)
    password_enabled: bool = False
    created_at: int | None = None
    updated_at: int | None = None

    @property
    def primary_email(self) -> EmailAddressCore | None:
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


class Instance(BaseModel):
    """GET /v1/instance: the instance itself, the same whichever of its secret keys asks."""

    model_config = ConfigDict(extra="allow")

    object: str = "instance"
    id: str
    environment_type: str  # "production" | "development"
    allowed_origins: list[str] | None = None


class PasswordCheck(BaseModel):
    """POST /v1/users/{id}/verify_password's 200 answer."""

    model_config = ConfigDict(extra="allow")

    verified: bool = False


# ------------------------------------------------------------- Frontend API
class AttributeSettings(BaseModel):
    """One `user_settings.attributes.<name>` (clerk/javascript AttributeDataJSON)."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    required: bool = False
    used_for_first_factor: bool = False
    first_factors: list[str] = Field(default_factory=list)
    used_for_second_factor: bool = False
    second_factors: list[str] = Field(default_factory=list)
    verifications: list[str] = Field(default_factory=list)
    verify_at_sign_up: bool = False


class SocialProviderSettings(BaseModel):
    """One `user_settings.social.oauth_<provider>` (OAuthProviderSettings)."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    required: bool = False
    authenticatable: bool = False
    strategy: str | None = None
    name: str | None = None


class SignUpSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    legal_consent_enabled: bool = False
    mode: str | None = None
    progressive: bool | None = None


IDENTIFIER_ATTRIBUTES = ("email_address", "phone_number", "username", "web3_wallet")


class InstanceSettings(BaseModel):
    """The instance's public settings, read from the Frontend API's
    `GET /v1/environment` (`user_settings`, plus the environment type of
    `display_config`). A missing attribute or provider reads as disabled."""

    model_config = ConfigDict(extra="allow")

    attributes: dict[str, AttributeSettings] = Field(default_factory=dict)
    social: dict[str, SocialProviderSettings] = Field(default_factory=dict)
    sign_up: SignUpSettings = Field(default_factory=SignUpSettings)
    environment_type: str | None = None  # display_config.instance_environment_type

    @classmethod
    def from_environment(cls, data: dict[str, Any]) -> "InstanceSettings":
        """From a whole `/v1/environment` answer (or its `user_settings` alone)."""
        user_settings = data.get("user_settings") if isinstance(data.get("user_settings"), dict) else data
        display = data.get("display_config") if isinstance(data.get("display_config"), dict) else {}
        return cls.model_validate({
            "attributes": {k: v for k, v in (user_settings.get("attributes") or {}).items() if isinstance(v, dict)},
            "social": {k: v for k, v in (user_settings.get("social") or {}).items() if isinstance(v, dict)},
            "sign_up": user_settings.get("sign_up") or {},
            "environment_type": display.get("instance_environment_type"),
        })

    def attribute(self, name: str) -> AttributeSettings:
        return self.attributes.get(name) or AttributeSettings()

    def enabled(self, name: str) -> bool:
        return self.attribute(name).enabled

    def required(self, name: str) -> bool:
        """Required and enabled (Clerk only requires what is on)."""
        attr = self.attribute(name)
        return attr.enabled and attr.required

    @property
    def email_address(self) -> AttributeSettings:
        return self.attribute("email_address")

    @property
    def phone_number(self) -> AttributeSettings:
        return self.attribute("phone_number")

    @property
    def username(self) -> AttributeSettings:
        return self.attribute("username")

    @property
    def password(self) -> AttributeSettings:
        return self.attribute("password")

    @property
    def first_name(self) -> AttributeSettings:
        return self.attribute("first_name")

    @property
    def last_name(self) -> AttributeSettings:
        return self.attribute("last_name")

    @property
    def legal_consent_enabled(self) -> bool:
        return self.sign_up.legal_consent_enabled

    @property
    def required_identifiers(self) -> list[str]:
        return [name for name in IDENTIFIER_ATTRIBUTES if self.required(name)]

    @property
    def enabled_providers(self) -> list[str]:
        """`google`, `github`, … (without `oauth_`), in the answer's order."""
        return [name.removeprefix("oauth_") for name, p in self.social.items() if p.enabled]

    def provider_enabled(self, provider: str) -> bool:
        """`google` or `oauth_google`."""
        key = provider if provider.startswith("oauth_") else f"oauth_{provider}"
        found = self.social.get(key)
        return bool(found and found.enabled)

    @property
    def password_only_first_factor(self) -> bool:
        """No way to sign in but a password: no other attribute offers a first
        factor, no passkey, no social provider on (Clerk then refuses
        skip_password_requirement)."""
        for name, attr in self.attributes.items():
            if name == "password" or not attr.enabled:
                continue
            if (attr.used_for_first_factor and attr.first_factors) or name == "passkey":
                return False
        return not self.enabled_providers
