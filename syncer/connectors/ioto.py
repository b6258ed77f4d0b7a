"""EmbedThis Ioto: streams as data (vendors.md §5; choices in docs/vendors/ioto.md).

Stream names: `devices`, `store`, `generic:<Model>` (e.g. `generic:Log`); every call is a POST
under /tok; the account comes from the connection's `options.account_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from syncer import auth, errors
from syncer.connectors.ioto_push import item_id, push, store_key
from syncer.models import Connector, PageBody, Paging, Request, StreamSpec, ViewSpec

#: Ioto's time-to-live (`expires`, an ISO 8601 instant or null, vendors.md §5): typed even while
#: every item has none
_VIEW = ViewSpec(instants=frozenset({"expires"}))


def _find(
    path: str, filters: Mapping[str, Any]
) -> Callable[[Mapping[str, str], Any, int], Request]:
    """`POST path` with the filters and `_params {limit, next}` in the body [A]."""

    def page(params: Mapping[str, str], position: Any, size: int) -> Request:
        paging: dict[str, Any] = {"limit": size}
        if position is not None:
            paging["next"] = position
        return Request(path, method="POST", json={**filters, **params, "_params": paging})

    return page


def _items(body: Any) -> PageBody:
    """`{data: [...], next?, prev?, paged}`: keep going while `next` is there, short or empty."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise errors.FatalVendorError("Ioto answered without a data list")
    return PageBody(data, len(data), None, next_cursor=body.get("next") or None)


def stream(name: str, options: Mapping[str, str] | None = None) -> StreamSpec:
    """The spec for a configured stream name."""
    account = (options or {}).get("account_id", "")
    if name == "devices":
        if not account:
            raise errors.ConfigError("Ioto stream 'devices' needs options.account_id")
        return StreamSpec(
            name=name,
            key=item_id,
            extract=_items,
            page=_find("/tok/device/find", {"accountId": account}),
            paging=Paging.CURSOR,
            cursor_field="updated",
            view=_VIEW,
        )
    kind, _, model = name.partition(":")
    if name == "store" or (kind == "generic" and model):
        model = "Store" if name == "store" else model
        return StreamSpec(
            name=name,
            key=store_key if model == "Store" else item_id,
            extract=_items,
            page=_find("/tok/generic/find", {"_type": model}),
            paging=Paging.CURSOR,
            cursor_field="updated",
            view=_VIEW,
        )
    raise errors.ConfigError(f"unknown Ioto stream {name!r}; use devices, store or generic:<Model>")


def _error_summary(body: Any) -> str:
    """Ioto's errors are text/plain; JSON only from the API Gateway throttle."""
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return ""


connector = Connector(
    vendor="ioto",
    auth=auth.bare,  # no scheme (vendors.md §5.1)
    stream=stream,
    error_summary=_error_summary,
    auth_failures=frozenset({401, 403}),
    # a 403 also answers a write to a device of another account: only "Authentication ..."
    # (or an empty body) means the token itself was refused [A]
    refuses_credential=lambda status, text: (
        status == 401 or not text or "authentication" in text.lower()
    ),
    push=push,
)
