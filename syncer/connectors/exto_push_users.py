"""Exto's user-access writes as push specs (vendors.md §2.5): `users` with `grant` (the
user-access body `{user: {userName, email}, projects, groups}`), `revoke` (`{username, projects,
groups}`), `remove_projects` (`{username, projectIds}`): one user per request; `activate`,
`deactivate` (`{userName}`): 1,000 names. The users a write touched are read back one by one
(`GET /user/user-access/by-user?username=`), for the mirror and for answers that do not account
for every name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from syncer.connectors import exto_answers as answers
from syncer.models import Answer, Follow, PushSpec, ReadBack, Request

#: most projects and groups one grant or revoke may name
MAX_ACCESS = 100
#: one user's access by username (seed 001, the OpenAPI document's getUserAccessByUsername)
BY_USER = "/api/v1/user/user-access/by-user"


def _user_name(record: Any) -> str | None:
    user = record.get("user")
    name = user.get("userName") if isinstance(user, dict) else None
    return name.lower() if isinstance(name, str) else None


def _named(row: dict[str, Any]) -> str | None:
    """The user a users row is about: `user.userName`, `username` or `userName`."""
    user = row.get("user")
    name = user.get("userName") if isinstance(user, dict) else None
    name = name or row.get("username") or row.get("userName")
    return name.strip().lower() if isinstance(name, str) and name.strip() else None


def _user_spec(
    endpoint: str,
    operation: str,
    request: Callable[[list[dict[str, Any]]], Request],
    invalid: Callable[[dict[str, Any]], str | None],
    acknowledged: Callable[[Any, int], bool],
    max_chunk: int = 1,
) -> PushSpec:
    """A users write; afterwards the users it touched are read back by username, for the
    mirror (an unknown user answers 404, which the read-back takes as not found)."""

    def checked(row: Any) -> str | None:
        if (problem := answers.not_object(row)) is not None:
            return problem
        if _named(row) is None:
            return "the payload names no user (user.userName, username or userName)"
        return invalid(row)

    return PushSpec(
        endpoint=endpoint,
        operation=operation,
        max_chunk=max_chunk,
        request=request,
        invalid=checked,
        key=lambda row: _named(row) or "",
        answer=Answer(acknowledged=acknowledged, whole_request=answers.whole_request()),
        read_back=ReadBack(
            lookup=lambda keys: Request(BY_USER, {"username": keys[0]}),
            identify=lambda record: (_user_name(record), _user_name(record)),
            lookup_batch=1,
            found=found,
        ),
        follow=Follow(stream="users"),
    )


def found(body: Any) -> list[dict[str, Any]]:
    """The user entry a by-user answer holds: `{user: {...}, groups, projects}`."""
    if isinstance(body, dict) and isinstance(body.get("user"), dict):
        return [body]
    return []


def absent(key: str, status: int | None, error: str) -> bool:
    """Whether a by-user error answer says that the user does not exist: a 404 or 400 that
    names the user and says "not found" [our reading: the documents give no such answer; a
    404 that does not name the user may be a wrong path, and proves nothing]."""
    low = error.lower()
    return status in (400, 404) and "not found" in low and key.lower() in low


def _access_count(row: dict[str, Any], *lists: str) -> str | None:
    total = 0
    for name in lists:
        items = row.get(name, [])
        if not isinstance(items, list):
            return f"{name} must be an array"
        total += len(items)
    if total > MAX_ACCESS:
        return (
            f"Exto takes at most {MAX_ACCESS} projects and groups per request and this row "
            f"holds {total}; split it into several outbox rows"
        )
    return None


def grant(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """POST /user/user-access: creates the user or adds the access (an upsert by userName)."""

    def invalid(row: dict[str, Any]) -> str | None:
        user = row.get("user")
        if isinstance(user, dict) and str(user.get("email", "")).lower() != _named(row):
            return "user.userName and user.email must be the same address"
        return _access_count(row, "projects", "groups")

    return _user_spec(
        endpoint,
        operation,
        lambda rows: Request("/api/v1/user/user-access", method="POST", json=rows[0]),
        invalid,
        lambda body, sent: answers.counts_add_up(body, sent),
    )


def revoke(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """DELETE /user/user-access `{username, projects, groups}`."""

    def invalid(row: dict[str, Any]) -> str | None:
        if not row.get("projects") and not row.get("groups"):
            return "a revoke names projects or groups to remove"
        return _access_count(row, "projects", "groups")

    def request(rows: list[dict[str, Any]]) -> Request:
        body = {"username": _named(rows[0]), "projects": rows[0].get("projects", [])}
        if "groups" in rows[0]:
            body["groups"] = rows[0]["groups"]
        return Request("/api/v1/user/user-access", method="DELETE", json=body)

    return _user_spec(endpoint, operation, request, invalid, lambda body, sent: True)


def remove_projects(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """DELETE /user/project-access `{username, projectIds}`."""

    def invalid(row: dict[str, Any]) -> str | None:
        if not row.get("projectIds"):
            return "remove_projects names projectIds"
        return _access_count(row, "projectIds")

    def request(rows: list[dict[str, Any]]) -> Request:
        body = {"username": _named(rows[0]), "projectIds": rows[0]["projectIds"]}
        return Request("/api/v1/user/project-access", method="DELETE", json=body)

    return _user_spec(endpoint, operation, request, invalid, lambda body, sent: True)


def set_status(endpoint: str, operation: str, options: Mapping[str, str]) -> PushSpec:
    """PATCH /user/activate-users or /deactivate-users with up to 1,000 usernames; the answer
    is MongoDB's bulk result, whose nMatched must equal the names sent (an unknown name is
    isolated by halving and rejected)."""
    path = f"/api/v1/user/{operation}-users"

    def acknowledged(body: Any, sent: int) -> bool:
        return isinstance(body, dict) and body.get("ok") == 1 and body.get("nMatched") == sent

    return _user_spec(
        endpoint,
        operation,
        lambda rows: Request(path, method="PATCH", json=[_named(r) for r in rows]),
        lambda row: None,
        acknowledged,
        max_chunk=answers.MAX_ROWS,
    )
