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

from console.sandbox import passwords
from console.sandbox.config import BASE62, MAX_ROTATION, InstanceKind, SandboxConfig, instance_id_for, rotated_key
from console.sandbox.errors import (
    ApiError,
    ErrorItem,
    error,
    form_error,
    quota_exceeded,
    user_not_found,
)
from console.sandbox.validation import CreateSpec, UpdateSpec

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
    key: str = ""  # the key the instance was first reached with (its id derives from it)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> User JSON, creation order
    by_email: dict[str, str] = field(default_factory=dict)  # lower-cased address -> user id
    by_phone: dict[str, str] = field(default_factory=dict)
    by_web3: dict[str, str] = field(default_factory=dict)
    by_username: dict[str, str] = field(default_factory=dict)  # lower-cased
    by_external_id: dict[str, str] = field(default_factory=dict)
    email_owner: dict[str, str] = field(default_factory=dict)  # email address id -> user id
    # how each user's password was given (never in the User JSON): user id ->
    # (passwords.PLAIN, salted sha256) or (hasher, digest)
    passwords: dict[str, tuple[str, str]] = field(default_factory=dict)
    user_windows: dict[str, SlidingWindow] = field(default_factory=dict)  # per-user update limit
    window: SlidingWindow = field(default_factory=SlidingWindow)
    stats: Counter = field(default_factory=Counter)
    api_versions: Counter = field(default_factory=Counter)

    @property
    def instance_id(self) -> str:
        return instance_id_for(self.key)

    # --- indexes -----------------------------------------------------------
    def _index(self, user: dict[str, Any]) -> None:
        uid = user["id"]
        for item in user["email_addresses"]:
            self.by_email[item["email_address"].lower()] = uid
            self.email_owner[item["id"]] = uid
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
            self.email_owner.pop(item["id"], None)
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
        self.instances: dict[str, Instance] = {}  # every key (original or rotated) -> its instance
        self.rotations: dict[str, str] = {}  # registered rotated key -> the key it rotates
        self.auth_failures: Counter = Counter()  # key (or "" for a malformed header) -> 401s answered
        self._id_rng = random.Random(f"ids:{config.seed}")

    def reset(self) -> None:
        with self.lock:
            self.instances.clear()
            self.auth_failures.clear()
            self._id_rng = random.Random(f"ids:{self.config.seed}")

    def instance(self, key: str, kind: InstanceKind) -> Instance:
        with self.lock:
            inst = self.instances.get(key)
            if inst is None:
                inst = self._same_instance(key)
                if inst is None:
                    inst = Instance(kind, key)
                self.instances[key] = inst
            return inst

    def _same_instance(self, key: str) -> Instance | None:
        """A rotated key of an instance already reached (or the original key of
        one first reached with a rotated key)."""
        original = self.rotations.get(key)
        if original is not None and original in self.instances:
            return self.instances[original]
        for known, inst in list(self.instances.items()):
            if known[:8] != key[:8]:
                continue
            for n in range(1, MAX_ROTATION + 1):
                if rotated_key(known, n) == key or rotated_key(key, n) == known:
                    return inst
        return None

    def rotate(self, key: str) -> str:
        """Register and return a new rotated key of `key`'s instance."""
        with self.lock:
            original = self.rotations.get(key, key)
            taken = set(self.instances) | set(self.rotations)
            for n in range(1, MAX_ROTATION + 1):
                candidate = rotated_key(original, n)
                if candidate not in taken:
                    self.rotations[candidate] = original
                    inst = self.instances.get(original) or self.instances.get(key)
                    if inst is not None:
                        self.instances[candidate] = inst
                    return candidate
            raise ValueError(f"no more than {MAX_ROTATION} rotations of one key")

    def peek(self, key: str) -> Instance | None:
        """The instance of `key` (or of the key it is a rotation of), None when never reached."""
        with self.lock:
            inst = self.instances.get(key)
            return inst if inst is not None else self._same_instance(key)

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
            if spec.password_stored is not None:
                inst.passwords[user["id"]] = spec.password_stored
            inst.stats["created"] += 1
            return user

    def _identification(self, obj: str, field_name: str, value: str, reserved: bool, ts: int,
                        verified: bool = True) -> dict[str, Any]:
        if not verified and not reserved:
            verification = None  # added unverified through POST /v1/email_addresses: no attempt yet
        elif reserved:
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
            inst.passwords.pop(user_id, None)
            inst.user_windows.pop(user_id, None)
            inst.stats["deleted"] += 1
            return {"object": "user", "id": user_id, "deleted": True, "external_id": user["external_id"]}

    def user_write(self, inst: Instance, user_id: str) -> dict[str, Any]:
        """The user about to be updated, after its per-user update limit:
        404 when absent, 429 + Retry-After past user_update_limit per
        user_update_window_s (Clerk: about 10 updates per 10 s per user)."""
        with self.lock:
            user = inst.users.get(user_id)
            if user is None:
                raise user_not_found(user_id)
            window = inst.user_windows.setdefault(user_id, SlidingWindow())
            retry_after = window.admit(time.monotonic(), self.config.user_update_limit, self.config.user_update_window_s)
            if retry_after is not None:
                inst.stats["user_rate_limited"] += 1
                raise error(429, "too_many_requests", "Too Many Requests",
                            f"Too many updates of user {user_id}, retry later",
                            headers={"Retry-After": str(retry_after)})
            return user

    def update(self, inst: Instance, user_id: str, spec: UpdateSpec) -> dict[str, Any]:
        with self.lock:
            user = self.user_write(inst, user_id)
            probe = CreateSpec(username=spec.values.get("username"), external_id=spec.values.get("external_id"))
            taken = inst.conflicts(probe, except_id=user_id)
            if taken:
                raise ApiError(422, taken)
            problems: list[ErrorItem] = []
            for kind, wanted in spec.primary_ids.items():
                items = user[f"{kind}es" if kind == "email_address" else f"{kind}s"]
                item = next((i for i in items if i["id"] == wanted), None)
                if item is None:
                    problems.append(form_error("form_param_value_invalid", f"primary_{kind}_id", "is invalid",
                                               f"primary_{kind}_id must be the id of one of the user's {kind}s."))
                elif (item.get("verification") or {}).get("status") != "verified":
                    problems.append(form_error("form_param_value_invalid", f"primary_{kind}_id", "is invalid",
                                               f"primary_{kind}_id must be a verified {kind}."))
            if problems:
                raise ApiError(422, problems)
            inst._unindex(user)
            for name in spec.nulls:
                user[name] = None
            for name, value in spec.values.items():
                user[name] = dict(value) if isinstance(value, dict) else value
            for kind, wanted in spec.primary_ids.items():
                user[f"primary_{kind}_id"] = wanted
            now = now_ms()
            if spec.password_stored is not None:
                inst.passwords[user_id] = spec.password_stored
                user["password_enabled"] = True
                user["password_last_updated_at"] = now
            if spec.totp_enabled is not None:
                user["totp_enabled"] = spec.totp_enabled
            if spec.backup_code_enabled is not None:
                user["backup_code_enabled"] = spec.backup_code_enabled
            if spec.totp_enabled is not None or spec.backup_code_enabled is not None:
                two_factor = bool(user["totp_enabled"] or user["backup_code_enabled"])
                if two_factor and not user["two_factor_enabled"]:
                    user["mfa_enabled_at"] = now
                elif user["two_factor_enabled"] and not two_factor:
                    user["mfa_disabled_at"] = now
                user["two_factor_enabled"] = two_factor
            user["updated_at"] = now
            inst._index(user)
            return user

    def set_metadata(self, inst: Instance, user_id: str, given: dict[str, Any], *, merge: bool) -> dict[str, Any]:
        """PATCH /v1/users/{id}/metadata deep-merges (a key set to null is
        removed); PUT replaces each given field whole (null stores {})."""
        with self.lock:
            user = self.user_write(inst, user_id)
            for name, value in given.items():
                if merge:
                    user[name] = _deep_merge(user.get(name) or {}, value or {})
                else:
                    user[name] = json_copy(value) if value is not None else {}
            user["updated_at"] = now_ms()
            return user

    def set_banned(self, inst: Instance, user_id: str, banned: bool) -> dict[str, Any]:
        with self.lock:
            user = self.user_write(inst, user_id)
            user["banned"] = banned
            user["updated_at"] = now_ms()
            return user

    def verify_password(self, inst: Instance, user_id: str, password: str) -> dict[str, Any]:
        with self.lock:
            if user_id not in inst.users:
                raise user_not_found(user_id)
            stored = inst.passwords.get(user_id)
        if stored is None:
            raise error(400, "password_not_set", "no password set",
                        "The user does not have a password set.")
        outcome = passwords.check(password, stored)  # bcrypt/argon2 take time: outside the lock
        if outcome is None:
            raise error(400, "sandbox_hasher_unsupported", "cannot check this hasher",
                        f"The sandbox cannot check {stored[0]} digests (it checks: "
                        f"{', '.join(sorted(passwords.CHECKED_HASHERS))} and plaintext passwords).")
        if not outcome:
            raise error(422, "form_password_incorrect", "Password is incorrect.",
                        "Password is incorrect. Try again, or use another method.", param="password")
        return {"verified": True}

    # --- email addresses ---------------------------------------------------------
    def _email(self, inst: Instance, email_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        owner = inst.email_owner.get(email_id)
        if owner is None or owner not in inst.users:
            raise error(404, "resource_not_found", "not found", f"No email address was found with id {email_id}")
        user = inst.users[owner]
        item = next(i for i in user["email_addresses"] if i["id"] == email_id)
        return user, item

    def get_email(self, inst: Instance, email_id: str) -> dict[str, Any]:
        with self.lock:
            return self._email(inst, email_id)[1]

    def add_email(self, inst: Instance, user_id: str, address: str, verified: bool, primary: bool | None) -> dict[str, Any]:
        with self.lock:
            user = self.user_write(inst, user_id)
            owner = inst.by_email.get(address)
            if owner is not None:
                raise ApiError(422, [form_error("form_identifier_exists", "email_address",
                                                "That email address is taken. Please try another.")])
            now = now_ms()
            item = self._identification("email_address", "email_address", address, False, now, verified=verified)
            user["email_addresses"].append(item)
            inst.by_email[address] = user_id
            inst.email_owner[item["id"]] = user_id
            if primary or user["primary_email_address_id"] is None:
                user["primary_email_address_id"] = item["id"]
            user["updated_at"] = now
            return item

    def update_email(self, inst: Instance, email_id: str, verified: bool | None, primary: bool | None) -> dict[str, Any]:
        with self.lock:
            user, item = self._email(inst, email_id)
            self.user_write(inst, user["id"])
            now = now_ms()
            if verified is True and (item.get("verification") or {}).get("status") != "verified":
                item["verification"] = {"object": "verification_admin", "status": "verified",
                                        "strategy": "admin", "attempts": None, "expire_at": None}
                item["reserved"] = False
            elif verified is False:
                item["verification"] = None
                item["reserved"] = False
            if primary:
                user["primary_email_address_id"] = item["id"]
            item["updated_at"] = now
            user["updated_at"] = now
            return item

    def delete_email(self, inst: Instance, email_id: str) -> dict[str, Any]:
        """Clerk keeps a user's last identification, the last email address when
        the instance requires one, and (the sandbox's defensive reading) the
        primary address: make another one primary first."""
        from console.sandbox import instance_settings as S

        with self.lock:
            user, item = self._email(inst, email_id)
            self.user_write(inst, user["id"])
            others = len(user["email_addresses"]) - 1 + len(user["phone_numbers"]) + len(user["web3_wallets"])
            others += 1 if user["username"] else 0
            if others == 0:
                raise error(400, "identification_deletion_failed", "Deletion failed",
                            "You cannot delete your last identification.")
            if len(user["email_addresses"]) == 1 and S.required(self.config.user_settings, "email_address"):
                raise error(400, "last_required_identification_deletion_failed",
                            "Deleting your last email address is prohibited",
                            "You are required to maintain at least one email address in your account at all times")
            if user["primary_email_address_id"] == email_id and len(user["email_addresses"]) > 1:
                raise error(400, "primary_identification_deletion_failed", "Deletion failed",
                            "You cannot delete the primary email address: make another address primary first.")
            user["email_addresses"] = [i for i in user["email_addresses"] if i["id"] != email_id]
            inst.by_email.pop(item["email_address"].lower(), None)
            inst.email_owner.pop(email_id, None)
            if user["primary_email_address_id"] == email_id:
                user["primary_email_address_id"] = None
            user["updated_at"] = now_ms()
            return {"object": "email_address", "id": email_id, "deleted": True}

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
        if name in ("user_id", "external_id"):
            # Clerk: a leading "+" includes and a leading "-" excludes the id after it
            include: list[str] = []
            exclude: set[str] = set()
            for value in values:
                if value.startswith("-"):
                    exclude.add(value[1:])
                else:
                    include.append(value[1:] if value.startswith("+") else value)
            if name == "user_id":
                chosen = [v for v in include if v in inst.users] if include else list(inst.users)
                return [v for v in chosen if v not in exclude]
            if include:
                chosen = [inst.by_external_id[v] for v in include if v in inst.by_external_id]
            else:
                chosen = list(inst.users)
            return [uid for uid in chosen if inst.users[uid]["external_id"] not in exclude]
        index, fold = {
            "email_address": (inst.by_email, str.lower),
            "phone_number": (inst.by_phone, lambda v: v),
            "username": (inst.by_username, str.lower),
            "external_id": (inst.by_external_id, lambda v: v),
            "web3_wallet": (inst.by_web3, str.lower),
        }[name]
        return [index[fold(v)] for v in values if fold(v) in index]


def json_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = json_copy(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = json_copy(value)
    return merged


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
