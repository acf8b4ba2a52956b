"""Bearer tokens with roles, stored in Redis as hashes of the tokens.

Roles: operator (alerts, acknowledge, dispatch), squad (its own dispatches),
engineer (cameras and config), auditor (read everything, download evidence,
read the audit log) and admin (everything, tokens, replay).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import redis

Role = Literal["operator", "squad", "engineer", "auditor", "admin"]
ROLES: tuple[str, ...] = ("operator", "squad", "engineer", "auditor", "admin")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    squad: str | None = None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, client: redis.Redis, prefix: str = "sharpeyes") -> None:
        self.client = client
        self.key = f"{prefix}:tokens"

    def create(
        self, name: str, role: str, squad: str | None = None, token: str | None = None
    ) -> str:
        """Store a token for `name` and return it; only its sha256 is kept."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if role == "squad" and not squad:
            raise ValueError("a squad token needs the squad id")
        token = token or "se_" + secrets.token_urlsafe(32)
        record = {"name": name, "role": role, "squad": squad, "created_at": time.time()}
        self.revoke(name)
        self.client.hset(self.key, token_digest(token), json.dumps(record))
        return token

    def lookup(self, token: str) -> Principal | None:
        raw = self.client.hget(self.key, token_digest(token))
        if raw is None:
            return None
        record = json.loads(raw)
        return Principal(record["name"], record["role"], record.get("squad"))

    def list(self) -> list[dict]:
        return sorted(
            (json.loads(raw) for raw in self.client.hvals(self.key)),
            key=lambda record: record["name"],
        )

    def revoke(self, name: str) -> bool:
        removed = False
        for digest, raw in self.client.hgetall(self.key).items():
            if json.loads(raw)["name"] == name:
                self.client.hdel(self.key, digest)
                removed = True
        return removed
