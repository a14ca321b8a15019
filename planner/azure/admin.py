"""Account-key operations for the local emulator (planner.emulator) and the demo: a full-rights client,
containers with stored access policies, and SAS tokens signed with the well-known emulator key.

Never used with a user's URL: mdplan itself only ever holds a SAS.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any


def service_client(connection_string: str, **kw: Any) -> Any:
    """A BlobServiceClient with the account key (full rights), for setting up test beds."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(connection_string, **kw)


def create_container(connection_string: str, name: str, policies: dict[str, tuple[str, datetime]] | None = None
                     ) -> None:
    """Create container `name` with stored access policies {id: (permission such as "racwdl", expiry)}."""
    from azure.storage.blob import AccessPolicy, ContainerSasPermissions

    client = service_client(connection_string).get_container_client(name)
    client.create_container()
    if policies:
        now = datetime.now(timezone.utc)
        identifiers = {
            pid: AccessPolicy(permission=ContainerSasPermissions.from_string(perm), expiry=expiry,
                              start=now - timedelta(minutes=15))  # tolerate clock skew, like real SAS tools do
            for pid, (perm, expiry) in policies.items()
        }
        client.set_container_access_policy(signed_identifiers=identifiers)


def container_sas(account: str, key: str, container: str, *, permission: str, expiry: datetime,
                  policy_id: str | None) -> str:
    """A container SAS token: `sp`/`se` in the token, or only `si` (the stored policy decides)."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    if policy_id is not None:
        return generate_container_sas(account, container, account_key=key, policy_id=policy_id)
    return generate_container_sas(account, container, account_key=key,
                                  permission=ContainerSasPermissions.from_string(permission), expiry=expiry,
                                  start=datetime.now(timezone.utc) - timedelta(minutes=15))
