"""A checked SourceUser -> the body of Clerk's POST /v1/users."""

from __future__ import annotations

from typing import Any

from console.clerk.models import CreateUserPayload
from console.source.model import Policies, SourceUser, email_status


def to_payload(user: SourceUser, policies: Policies = Policies()) -> dict[str, Any]:
    """The create body for a row the checks accepted. Only Clerk fields, only
    the ones that have a value (validated by CreateUserPayload, which forbids
    anything else).

    - external_id: the Auth.js id; email_address: [email], verified when the
      export proves it (an emailVerified date, or an OAuth account under the
      default policy), else `email_address_identification_status: ["reserved"]`
      (see `email_status`); phone_number: [E.164 number] (Clerk's default: verified);
    - password_digest + password_hasher, or a plaintext `password` with
      `skip_password_checks` (policy send only), else skip_password_requirement.
    """
    body: dict[str, Any] = {}
    if user.external_id is not None:
        body["external_id"] = str(user.external_id)
    if user.email:
        body["email_address"] = [user.email]
        status = email_status(user.email_verified, bool(user.providers), policies.unverified_email)
        if status == "reserved":
            body["email_address_identification_status"] = ["reserved"]
    if user.phone_number:
        body["phone_number"] = [user.phone_number]
    if user.username:
        body["username"] = user.username
    if user.first_name:
        body["first_name"] = user.first_name
    if user.last_name:
        body["last_name"] = user.last_name
    if user.created_at:
        body["created_at"] = user.created_at
    if user.legal_accepted_at:
        body["legal_accepted_at"] = user.legal_accepted_at
    if user.password_digest and user.password_hasher:
        body["password_digest"] = user.password_digest
        body["password_hasher"] = user.password_hasher
    elif user.password and policies.plaintext_password == "send":
        body["password"] = user.password
        body["skip_password_checks"] = True
    else:
        body["skip_password_requirement"] = True
    for name in ("public_metadata", "private_metadata", "unsafe_metadata"):
        value = getattr(user, name)
        if value:
            body[name] = value
    return CreateUserPayload(**body).to_body()
