"""The sandbox's memory: one `Instance` per secret key, with its users, its
identifier indexes, its rate-limit window and its counters.

Every method takes the store's lock: the server's event loop mutates, while a
test's thread reads (`users(key)`, `stats(key)`).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from console.sandbox.config import BASE62, InstanceKind, SandboxConfig
from console.sandbox.errors import ApiError, ErrorItem, form_error, quota_exceeded, user_not_found
from console.sandbox.validation import CreateSpec

DEFAULT_IMAGE = (
    "https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCIsImlpZCI6Imluc18yIiwicmlkIjoidXNlcl8yIn0"
)
PROFILE_IMAGE = "https://www.gravatar.com/avatar?d=mp"

# order_by fields Clerk accepts on GET /v1/users
ORDER_FIELDS = (
    "created_at",
    "updated_at",
    "email_address",
    "web3wallet",
    "first_name",
    "last_name",
    "phone_number",
    "username",
    "last_active_at",
    "last_sign_in_at",
)
# repeated-key filters: name -> how a value is normalised before matching
FILTERS = ("email_address", "phone_number", "username", "external_id", "user_id", "web3_wallet")


def now_ms() -> int:
    return int(time.time() * 1000)


class SlidingWindow:
    """A sliding-window log: at most `limit` admitted requests in any `window_s`."""

    def __init__(self) -> None:
        self.hits: deque[float] = deque()

    def admit(self, now: float, limit: int, window_s: float) -> int | None:
        """Record the request and return None, or return Retry-After (whole
        seconds until a slot frees, at least 1) without recording it."""
        horizon = now - window_s
        hits = self.hits
        while hits and hits[0] <= horizon:
            hits.popleft()
        if len(hits) >= max(limit, 0):
            if limit <= 0 or not hits:
                return max(1, math.ceil(window_s))
            frees_at = hits[len(hits) - limit] + window_s
            return max(1, math.ceil(frees_at - now))
        hits.append(now)
        return None


@dataclass
class Instance:
    key_kind: InstanceKind
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> User JSON, creation order
    by_email: dict[str, str] = field(default_factory=dict)  # lower-cased address -> user id
    by_phone: dict[str, str] = field(default_factory=dict)
    by_web3: dict[str, str] = field(default_factory=dict)
    by_username: dict[str, str] = field(default_factory=dict)  # lower-cased
    by_external_id: dict[str, str] = field(default_factory=dict)
    window: SlidingWindow = field(default_factory=SlidingWindow)
    stats: Counter = field(default_factory=Counter)
    api_versions: Counter = field(default_factory=Counter)

    # --- indexes -----------------------------------------------------------
    def _index(self, user: dict[str, Any]) -> None:
        uid = user["id"]
        for item in user["email_addresses"]:
            self.by_email[item["email_address"].lower()] = uid
        for item in user["phone_numbers"]:
            self.by_phone[item["phone_number"]] = uid
        for item in user["web3_wallets"]:
            self.by_web3[item["web3_wallet"].lower()] = uid
        if user["username"]:
            self.by_username[user["username"].lower()] = uid
        if user["external_id"] is not None:
            self.by_external_id[user["external_id"]] = uid

    def _unindex(self, user: dict[str, Any]) -> None:
        for item in user["email_addresses"]:
            self.by_email.pop(item["email_address"].lower(), None)
        for item in user["phone_numbers"]:
            self.by_phone.pop(item["phone_number"], None)
        for item in user["web3_wallets"]:
            self.by_web3.pop(item["web3_wallet"].lower(), None)
        if user["username"]:
            self.by_username.pop(user["username"].lower(), None)
        if user["external_id"] is not None:
            self.by_external_id.pop(user["external_id"], None)

    def conflicts(self, spec: CreateSpec, *, except_id: str | None = None) -> list[ErrorItem]:
        """form_identifier_exists, one item per taken identifier: emails,
        phones, web3 wallets, username, external_id, in that order."""
        taken: list[ErrorItem] = []

        def clash(index: dict[str, str], value: str) -> bool:
            owner = index.get(value)
            return owner is not None and owner != except_id

        for address, _ in spec.emails:
            if clash(self.by_email, address):
                taken.append(form_error("form_identifier_exists", "email_address", "That email address is taken. Please try another.",
                                        "That email address is taken. Please try another."))
        for number, _ in spec.phones:
            if clash(self.by_phone, number):
                taken.append(form_error("form_identifier_exists", "phone_number", "That phone number is taken. Please try another."))
        for wallet in spec.web3_wallets:
            if clash(self.by_web3, wallet):
                taken.append(form_error("form_identifier_exists", "web3_wallet", "That web3 wallet is taken."))
        if spec.username and clash(self.by_username, spec.username.lower()):
            taken.append(form_error("form_identifier_exists", "username", "That username is taken. Please try another."))
        if spec.external_id is not None and clash(self.by_external_id, spec.external_id):
            taken.append(form_error("form_identifier_exists", "external_id", "That external ID is taken.",
                                    "Another user already has this external_id."))
        return taken


class Store:
    """All instances of one sandbox server, and the seeded id generator."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.instances: dict[str, Instance] = {}
        self._id_rng = random.Random(f"ids:{config.seed}")

    def reset(self) -> None:
        with self.lock:
            self.instances.clear()
            self._id_rng = random.Random(f"ids:{self.config.seed}")

    def instance(self, key: str, kind: InstanceKind) -> Instance:
        with self.lock:
            inst = self.instances.get(key)
            if inst is None:
                inst = self.instances[key] = Instance(kind)
            return inst

    def peek(self, key: str) -> Instance | None:
        with self.lock:
            return self.instances.get(key)

    def new_id(self, prefix: str) -> str:
        return prefix + "".join(self._id_rng.choices(BASE62, k=27))

    # --- users -------------------------------------------------------------
    def create(self, inst: Instance, spec: CreateSpec) -> dict[str, Any]:
        with self.lock:
            taken = inst.conflicts(spec)
            if taken:
                raise ApiError(422, taken)
            if inst.key_kind == "development" and len(inst.users) >= self.config.dev_user_cap:
                raise quota_exceeded(self.config.dev_user_cap)
            user = self._build_user(spec)
            inst.users[user["id"]] = user
            inst._index(user)
            inst.stats["created"] += 1
            return user

    def _identification(self, obj: str, field_name: str, value: str, reserved: bool, ts: int) -> dict[str, Any]:
        if reserved:
            # Reserved: "unverified but usable for sign-in and locked so no
            # other user can claim it". Shown as a pending OTP verification.
            strategy = "email_code" if obj == "email_address" else "phone_code"
            verification = {"object": "verification_otp", "status": "unverified",
                            "strategy": strategy, "attempts": None, "expire_at": None}
        else:
            verification = {"object": "verification_admin", "status": "verified",
                            "strategy": "admin", "attempts": None, "expire_at": None}
        item = {
            "id": self.new_id("idn_"),
            "object": obj,
            field_name: value,
            "reserved": reserved,
            "verification": verification,
            "linked_to": [],
            "created_at": ts,
            "updated_at": ts,
        }
        if obj == "email_address":
            item["matches_sso_connection"] = False
        if obj == "phone_number":
            item["reserved_for_second_factor"] = False
            item["default_second_factor"] = False
            item["backup_codes"] = None
        return item

    def _build_user(self, spec: CreateSpec) -> dict[str, Any]:
        ts = now_ms()
        created = spec.created_at_ms if spec.created_at_ms is not None else ts
        emails = [self._identification("email_address", "email_address", a, r, ts) for a, r in spec.emails]
        phones = [self._identification("phone_number", "phone_number", p, r, ts) for p, r in spec.phones]
        wallets = [
            {
                "id": self.new_id("idn_"),
                "object": "web3_wallet",
                "web3_wallet": w,
                "verification": {"object": "verification_admin", "status": "verified",
                                 "strategy": "admin", "attempts": None, "expire_at": None},
                "created_at": ts,
                "updated_at": ts,
            }
            for w in spec.web3_wallets
        ]
        two_factor = spec.totp_enabled or spec.backup_code_enabled
        return {
            "id": self.new_id("user_"),
            "object": "user",
            "external_id": spec.external_id,
            "primary_email_address_id": emails[0]["id"] if emails else None,
            "primary_phone_number_id": phones[0]["id"] if phones else None,
            "primary_web3_wallet_id": wallets[0]["id"] if wallets else None,
            "username": spec.username,
            "first_name": spec.first_name,
            "last_name": spec.last_name,
            "locale": spec.locale,
            "profile_image_url": PROFILE_IMAGE,
            "image_url": DEFAULT_IMAGE,
            "has_image": False,
            "public_metadata": spec.public_metadata,
            "private_metadata": spec.private_metadata,
            "unsafe_metadata": spec.unsafe_metadata,
            "email_addresses": emails,
            "phone_numbers": phones,
            "web3_wallets": wallets,
            "passkeys": [],
            "password_enabled": spec.password_enabled,
            "password_last_updated_at": ts if spec.password_enabled else None,
            "two_factor_enabled": two_factor,
            "totp_enabled": spec.totp_enabled,
            "backup_code_enabled": spec.backup_code_enabled,
            "mfa_enabled_at": ts if two_factor else None,
            "mfa_disabled_at": None,
            "external_accounts": [],
            "saml_accounts": [],
            "enterprise_accounts": [],
            "organization_memberships": [],
            "last_sign_in_at": None,
            "banned": spec.banned,
            "locked": spec.locked,
            "lockout_expires_in_seconds": None,
            "verification_attempts_remaining": 100,
            "created_at": created,
            "updated_at": ts,
            "delete_self_enabled": spec.delete_self_enabled,
            "create_organization_enabled": spec.create_organization_enabled,
            "create_organizations_limit": spec.create_organizations_limit,
            "last_active_at": None,
            "legal_accepted_at": spec.legal_accepted_at_ms,
            "bypass_client_trust": spec.bypass_client_trust,
            "deprovisioned": False,
        }

    def get(self, inst: Instance, user_id: str) -> dict[str, Any]:
        with self.lock:
            user = inst.users.get(user_id)
            if user is None:
                raise user_not_found(user_id)
            return user

    def delete(self, inst: Instance, user_id: str) -> dict[str, Any]:
        with self.lock:
            user = inst.users.pop(user_id, None)
            if user is None:
                raise user_not_found(user_id)
            inst._unindex(user)
            inst.stats["deleted"] += 1
            return {"object": "user", "id": user_id, "deleted": True, "external_id": user["external_id"]}

    def update(self, inst: Instance, user_id: str, values: dict[str, Any], nulls: list[str]) -> dict[str, Any]:
        with self.lock:
            user = inst.users.get(user_id)
            if user is None:
                raise user_not_found(user_id)
            probe = CreateSpec(
                username=values.get("username"),
                external_id=values.get("external_id"),
            )
            taken = inst.conflicts(probe, except_id=user_id)
            if taken:
                raise ApiError(422, taken)
            inst._unindex(user)
            for name in nulls:
                if name in ("external_id", "first_name", "last_name", "locale", "username",
                            "create_organizations_limit", "legal_accepted_at"):
                    user[name] = None
            for name, value in values.items():
                user[name] = dict(value) if isinstance(value, dict) else value
            user["updated_at"] = now_ms()
            inst._index(user)
            return user

    def select(self, inst: Instance, filters: dict[str, list[str]], query: str | None) -> list[dict[str, Any]]:
        """Users matching every given filter kind (any value of a kind), and
        `query` as a case-insensitive partial match."""
        with self.lock:
            candidates: Iterable[dict[str, Any]]
            ids: set[str] | None = None
            for name, values in filters.items():
                if not values:
                    continue
                found = set(self._ids_for(inst, name, values))
                ids = found if ids is None else ids & found
            if ids is None:
                candidates = list(inst.users.values())
            else:
                candidates = [u for uid, u in inst.users.items() if uid in ids]
            if query:
                needle = query.lower()
                candidates = [u for u in candidates if needle in _haystack(u)]
            return list(candidates)

    @staticmethod
    def _ids_for(inst: Instance, name: str, values: list[str]) -> Iterable[str]:
        if name == "user_id":
            return [v for v in values if v in inst.users]
        index, fold = {
            "email_address": (inst.by_email, str.lower),
            "phone_number": (inst.by_phone, lambda v: v),
            "username": (inst.by_username, str.lower),
            "external_id": (inst.by_external_id, lambda v: v),
            "web3_wallet": (inst.by_web3, str.lower),
        }[name]
        return [index[fold(v)] for v in values if fold(v) in index]


def _haystack(user: dict[str, Any]) -> str:
    parts = [user["id"], user.get("external_id") or "", user.get("username") or "",
             user.get("first_name") or "", user.get("last_name") or ""]
    parts += [e["email_address"] for e in user["email_addresses"]]
    parts += [p["phone_number"] for p in user["phone_numbers"]]
    parts += [w["web3_wallet"] for w in user["web3_wallets"]]
    return "\x00".join(parts).lower()


def sort_key(field_name: str):
    def primary(user: dict[str, Any], attr: str, value_field: str) -> str | None:
        pid = user.get(f"primary_{attr}_id")
        for item in user[f"{attr}es" if attr == "email_address" else f"{attr}s"]:
            if item["id"] == pid:
                return item[value_field]
        return None

    def key(user: dict[str, Any]):
        if field_name == "email_address":
            value = primary(user, "email_address", "email_address")
        elif field_name == "phone_number":
            value = primary(user, "phone_number", "phone_number")
        elif field_name == "web3wallet":
            value = primary(user, "web3_wallet", "web3_wallet")
        else:
            value = user.get(field_name)
        if isinstance(value, str):
            value = value.lower()
        return (value is None, value if value is not None else 0)

    return key
