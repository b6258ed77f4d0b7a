"""Deterministic Exto users, projects and groups (the `/user/...` routes), shaped like the seed,
and the changes the user-access writes make to them."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
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


#: the user fields of a user created by `POST /user/user-access` that its body leaves out
_NEW_USER_DEFAULTS: Mapping[str, Any] = {
    "firstName": "",
    "lastName": "",
    "applicationRole": "USER",
    "loginMethod": "NATIVE",
    "company": "",
    "status": 1,
    "employeeId": None,
    "verifyEmailOTP": False,
    "autoRenewMSAccessToken": False,
}


def find_user(users: list[dict[str, Any]], username: str) -> dict[str, Any] | None:
    """The user-access entry whose userName is `username` (any case), if any."""
    wanted = username.strip().lower()
    for entry in users:
        if entry["user"]["userName"] == wanted:
            return entry
    return None


def is_active(users: list[dict[str, Any]], username: str) -> bool:
    """Whether `username` (any case) is a user with status 1."""
    entry = find_user(users, username)
    return entry is not None and entry["user"]["status"] == 1


def new_user(
    fields: Mapping[str, Any], projects: list[dict[str, Any]], groups: list[str]
) -> dict[str, Any]:
    """A user-access entry for a new user: `fields` over the defaults, lower-cased userName and
    email, fullName from the names when not given; then the access granted."""
    user = dict(_NEW_USER_DEFAULTS) | dict(fields)
    user["userName"] = str(user["userName"]).lower()
    user["email"] = str(user.get("email", user["userName"])).lower()
    user.setdefault("fullName", f"{user['firstName']} {user['lastName']}".strip())
    entry: dict[str, Any] = {"user": user, "groups": [], "projects": []}
    grant(entry, {}, projects, groups)
    return entry


def grant(
    entry: dict[str, Any],
    fields: Mapping[str, Any],
    projects: list[dict[str, Any]],
    groups: list[str],
) -> bool:
    """Merge user `fields` (userName kept), add tenant `groups`, and add `projects`
    (`{projectID, groups, spaces}`: new ones appended, known ones get the groups and spaces they
    lack). Return whether anything changed."""
    user = entry["user"]
    before = repr(entry)
    user.update({k: v for k, v in fields.items() if k not in ("userName", "email")})
    _add(entry["groups"], groups)
    held = {p["projectID"]: p for p in entry["projects"]}
    for project in projects:
        mine = held.get(project["projectID"])
        if mine is None:
            mine = held[project["projectID"]] = {"projectID": project["projectID"]}
            mine |= {"groups": [], "spaces": []}
            entry["projects"].append(mine)
        _add(mine["groups"], project["groups"])
        _add(mine["spaces"], project["spaces"])
    return repr(entry) != before


def revoke_groups(
    entry: dict[str, Any], projects: list[tuple[str, list[str] | None]], groups: list[str]
) -> bool:
    """Remove tenant `groups`, and per `(projectID, groups)` those project-level groups (None:
    all of them; the project itself stays). Return whether anything changed."""
    before = repr(entry)
    entry["groups"] = [g for g in entry["groups"] if g not in groups]
    for project_id, doomed in projects:
        for mine in entry["projects"]:
            if mine["projectID"] != project_id:
                continue
            mine["groups"] = (
                [] if doomed is None else [g for g in mine["groups"] if g not in doomed]
            )
    return repr(entry) != before


def remove_projects(entry: dict[str, Any], project_ids: Iterable[str]) -> bool:
    """Take `project_ids` out of the user's projects. Return whether any was there."""
    doomed = set(project_ids)
    kept = [p for p in entry["projects"] if p["projectID"] not in doomed]
    changed = len(kept) != len(entry["projects"])
    entry["projects"] = kept
    return changed


def set_status(
    users: list[dict[str, Any]], usernames: Iterable[str], status: int
) -> tuple[list[str], list[str]]:
    """Set the status of the named users (any case; unknown names are skipped). Return the
    lower-cased names matched and those whose status changed, each once, in request order."""
    matched: list[str] = []
    modified: list[str] = []
    for name in usernames:
        entry = find_user(users, name)
        if entry is None or entry["user"]["userName"] in matched:
            continue
        user = entry["user"]
        matched.append(user["userName"])
        if user["status"] != status:
            user["status"] = status
            modified.append(user["userName"])
    return matched, modified


def _add(items: list[str], more: Iterable[str]) -> None:
    """Append to `items` each of `more` it lacks, in order."""
    for item in more:
        if item not in items:
            items.append(item)
