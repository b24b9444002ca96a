"""Listing as Neutron does, for every collection: filters by any attribute
(repeated values are alternatives), ``tags``/``tags-any``/``not-tags``/
``not-tags-any``, ``fields`` (repeatable), ``sort_key``/``sort_dir`` (repeatable),
and ``limit``/``marker``/``page_reverse`` pagination with ``<collection>_links``.

It works on the rendered resources the caller may see, after the attributes the
caller may not see were removed, so no filter can reveal a hidden value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from stratus.conf import CONF
from stratus.network.exceptions import InvalidInput

RESERVED = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}
TAG_FILTERS = {"tags", "tags-any", "not-tags", "not-tags-any"}


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.lower() in (("true", "1") if value else ("false", "0"))
    if isinstance(value, list):
        return any(_matches(v, wanted) for v in value)
    if isinstance(value, dict):
        key, _, expected = wanted.partition("=")
        return key in value and str(value[key]) == expected
    if value is None:
        return wanted in ("", "None", "null")
    return str(value) == wanted


def _tag_filter(item: dict[str, Any], name: str, values: list[str]) -> bool:
    tags = set(item.get("tags") or [])
    wanted = {t for v in values for t in v.split(",") if t}
    if name == "tags":
        return wanted <= tags
    if name == "tags-any":
        return bool(wanted & tags)
    if name == "not-tags":
        return not wanted <= tags
    return not wanted & tags


def apply_filters(
    items: list[dict[str, Any]], params: QueryParams, known: set[str]
) -> list[dict[str, Any]]:
    for name in dict.fromkeys(params.keys()):
        if name in RESERVED:
            continue
        values = params.getlist(name)
        if name in TAG_FILTERS:
            items = [i for i in items if _tag_filter(i, name, values)]
        elif name in known:
            items = [i for i in items if any(_matches(i.get(name), v) for v in values)]
        else:
            raise InvalidInput(name, f"[{name}] is invalid attribute for filtering.")
    return items


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int):
        return (1, int(value))
    return (2, str(value))


def apply_sort(
    items: list[dict[str, Any]], params: QueryParams, known: set[str]
) -> list[dict[str, Any]]:
    keys = params.getlist("sort_key")
    dirs = params.getlist("sort_dir")
    if dirs and len(dirs) != len(keys):
        raise InvalidInput("sort_dir", "The number of sort_keys and sort_dirs must be the same.")
    for key in keys:
        if key not in known:
            raise InvalidInput("sort_key", f"'{key}' is not an attribute to sort by.")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise InvalidInput("sort_dir", f"'{direction}' is not asc or desc.")
    ordered = sorted(items, key=lambda i: str(i.get("id")))
    for key, direction in reversed(list(zip(keys, dirs or ["asc"] * len(keys), strict=True))):
        ordered.sort(key=lambda i, k=key: _sort_value(i.get(k)), reverse=direction == "desc")
    return ordered


def _limit(params: QueryParams) -> int | None:
    raw = params.get("limit")
    if raw is None:
        return None
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidInput("limit", f"'{raw}' is not an integer.") from None
    if limit < 0:
        raise InvalidInput("limit", f"'{raw}' is negative.")
    return min(limit, CONF.api.max_limit) if limit else None


def paginate(
    items: list[dict[str, Any]], params: QueryParams, collection: str, url: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    limit = _limit(params)
    marker = params.get("marker")
    reverse = params.get("page_reverse", "false").lower() == "true"
    ordered = list(reversed(items)) if reverse else items
    if marker is not None:
        position = next((n for n, i in enumerate(ordered) if i.get("id") == marker), None)
        if position is None:
            raise InvalidInput("marker", f"Marker {marker} could not be found.")
        ordered = ordered[position + 1 :]
    if limit is None:
        page, more = ordered, False
    else:
        page, more = ordered[:limit], len(ordered) > limit
    if reverse:
        page = list(reversed(page))
    links = []
    if limit is not None and page:
        base = [(k, v) for k, v in params.multi_items() if k not in ("marker", "page_reverse")]
        forward_more, backward_more = (marker is not None, more) if reverse else (more, marker)
        if forward_more:
            query = urlencode([*base, ("marker", page[-1]["id"])])
            links.append({"rel": "next", "href": f"{url}?{query}"})
        if backward_more:
            query = urlencode([*base, ("marker", page[0]["id"]), ("page_reverse", "True")])
            links.append({"rel": "previous", "href": f"{url}?{query}"})
    return page, links


def select_fields(items: list[dict[str, Any]], params: QueryParams) -> list[dict[str, Any]]:
    fields = [f for v in params.getlist("fields") for f in v.split(",") if f]
    if not fields:
        return items
    return [{k: v for k, v in item.items() if k in fields} for item in items]


def listing(
    items: list[dict[str, Any]], params: QueryParams, collection: str, url: str, known: set[str]
) -> dict[str, Any]:
    """The body of ``GET /<collection>``: ``{collection: [...], collection_links?}``."""
    items = apply_filters(items, params, known)
    items = apply_sort(items, params, known)
    page, links = paginate(items, params, collection, url)
    body: dict[str, Any] = {collection: select_fields(page, params)}
    if links:
        body[f"{collection}_links"] = links
    return body
