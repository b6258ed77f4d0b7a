"""Deterministic Exto users, projects and groups (the `/user/...` routes), shaped like the seed."""

from __future__ import annotations

import random
from typing import Any

TENANT_ID = "cwWdTZK"
#: project ids from the Exto docs first, so examples read familiar; the rest are generated
_KNOWN_PROJECTS = ("p6iDlWb", "Vx6-j2Z", "RLze1VG", "MjiPB1r", "Queen_p")
TENANT_GROUPS = ("G1", "G2", "Group3", "Group4", "Inspectors", "Supervisors", "Auditors", "Admins")
_PROJECT_GROUPS = ("G1", "G2", "G3", "Admin", "Field", "QA", "Viewers")
_SPACES = ("S1", "S2", "Space 3", "North", "South", "Lab")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_FIRST = ("John", "Jason", "Asha", "Ravi", "Maria", "Chen", "Fatima", "Lukas", "Aiko", "Omar")
_LAST = ("Doe", "Smith", "Patel", "Garcia", "Wong", "Khan", "Muller", "Sato", "Okafor", "Silva")
_COMPANIES = ("", "Tech Corp", "Acme Field Services", "Northwind")


#: every 2-character string over _ID_ALPHABET, indexed by 12 bits (ids are built by lookup: speed)
_ID_PAIRS = [a + b for a in _ID_ALPHABET for b in _ID_ALPHABET]


def short_id(rng: random.Random) -> str:
    """A 7-character id like Exto's slugs and project ids (`iWlOE8K`)."""
    bits = rng.getrandbits(42)
    pairs = _ID_PAIRS
    return (
        pairs[bits & 4095]
        + pairs[bits >> 12 & 4095]
        + pairs[bits >> 24 & 4095]
        + _ID_ALPHABET[bits >> 36]
    )


def make_projects(seed: int, count: int) -> list[dict[str, Any]]:
    """`count` projects `{projectID, groups, spaces}`; ids are unique."""
    rng = random.Random(f"{seed}:projects")
    ids = list(_KNOWN_PROJECTS[:count])
    while len(ids) < count:
        candidate = short_id(rng)
        if candidate not in ids:
            ids.append(candidate)
    return [
        {
            "projectID": project_id,
            "groups": _subset(rng, _PROJECT_GROUPS, 0.4),
            "spaces": _subset(rng, _SPACES, 0.3),
        }
        for project_id in ids
    ]


def make_users(seed: int, count: int, projects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`count` user-access entries `{user, groups, projects}`; userName: unique lower-case email."""
    rng = random.Random(f"{seed}:users")
    users = []
    for n in range(1, count + 1):
        first = _FIRST[rng.randrange(len(_FIRST))]
        last = _LAST[rng.randrange(len(_LAST))]
        email = f"{first}.{last}{n}@example.com".lower()
        user: dict[str, Any] = {
            "userName": email,
            "firstName": first,
            "lastName": last,
            "fullName": f"{first} {last}",
            "email": email,
            "applicationRole": "PME" if rng.random() < 0.2 else "USER",
            "loginMethod": "SSO" if rng.random() < 0.3 else "NATIVE",
            "company": _COMPANIES[rng.randrange(len(_COMPANIES))],
            "status": 1 if rng.random() < 0.85 else 0,
            "employeeId": f"EMP{rng.randrange(10**6):06d}" if rng.random() < 0.5 else None,
            "verifyEmailOTP": rng.random() < 0.1,
            "autoRenewMSAccessToken": rng.random() < 0.2,
        }
        access = rng.sample(projects, min(len(projects), 1 + rng.randrange(3)))
        users.append(
            {
                "user": user,
                "groups": _subset(rng, TENANT_GROUPS, 0.2),
                "projects": [
                    {
                        "projectID": p["projectID"],
                        "groups": _subset(rng, p["groups"], 0.5),
                        "spaces": _subset(rng, p["spaces"], 0.5),
                    }
                    for p in access
                ],
            }
        )
    return users


def _subset(rng: random.Random, items: tuple[str, ...] | list[str], share: float) -> list[str]:
    return [item for item in items if rng.random() < share]
