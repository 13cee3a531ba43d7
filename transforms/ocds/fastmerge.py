"""Compile releases several times faster than ocdsmerge 0.8.0, with byte-for-byte the same output (REFERENCE §4).

ocdsmerge flattens every release into ``{path tuple: value}``, updates one flat dict and rebuilds the tree from it
once per ocid. This module merges each release straight into a tree, walking a precomputed rule tree keyed by the
path without array positions. The tree reproduces what ocdsmerge's flat dict implies:

- An object's keys come in the order their first path appeared, except that a key whose first path was a ``null``
  leaf only counts from the moment something is stored below it (``unflatten`` skips ``null`` leaves).
- ``null`` on a leaf removes it, but keeps its place; ``null`` on an object or array keeps the descendants.
- ``{}``, ``[]`` on an identifier-merge array, and objects holding only empties store nothing.
- Array items are matched on ``id`` (``id`` first in the output object); id-less items are always appended;
  duplicate ids in one release merge and warn with :class:`ocdsmerge.exceptions.DuplicateIdValueWarning`.
- Versioned output keeps the ``id`` of array items and ``ocid`` plain and versions every other leaf.

Where ocdsmerge's result depends on accidents of its flat encoding, the fast path stops and the group is compiled by
ocdsmerge itself, so the result, the warning or the exception (``InconsistentTypeError``…) is exactly ocdsmerge's:
a literal and an object or array at the same path; ``1`` and ``"1"`` in one array (ocdsmerge matches ids as strings
but rebuilds items by Python value); ids that are neither strings nor integers; and, when versioning, ``null`` and
then an object or array at the same path, or duplicate ids in one release. Dates are sorted by
``ocdsmerge.util.sorted_releases``, so date errors are ocdsmerge's too.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

import ocdsmerge
import orjson
from ocdsmerge.exceptions import DuplicateIdValueWarning
from ocdsmerge.rules import get_merge_rules
from ocdsmerge.util import sorted_releases

__all__ = ["MergeRules", "compile_release", "compile_stream", "merge_rules", "versioned_release"]

# Unknown keys get a cached rule node (it carries the path for warnings); past this many per node, data is using
# keys as values, so stop caching rather than grow without bound.
_MAX_CACHED_UNKNOWN = 2000
_ABSENT = object()  # an array item without an `id` key (unlike `"id": null`)


class _Fallback(Exception):
    """The input is one that only ocdsmerge's own flat encoding reproduces; compile the group with ocdsmerge."""


class _RemoteRef(Exception):
    """The schema has a ``$ref`` outside the document; let ocdsmerge (jsonref) resolve it."""


class _Rule:
    """The rules below one path (array positions omitted): which children are omitted or whole-list merged."""

    __slots__ = ("children", "omit", "path", "whole")

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.children: dict[str, _Rule] = {}
        # The only rule lookups that most values need.
        self.omit: frozenset[str] = frozenset()
        self.whole: frozenset[str] = frozenset()

    def child(self, key: str) -> _Rule:
        """Return the rules below ``key``; keys the schema does not describe have none."""
        rule = self.children.get(key)
        if rule is None:
            rule = _Rule((*self.path, key))
            if len(self.children) < _MAX_CACHED_UNKNOWN:
                self.children[key] = rule
        return rule

    def with_omitted(self, *keys: str) -> _Rule:
        """Return a copy of this (root) rule that also omits ``keys``."""
        copy = _Rule(self.path)
        copy.children = self.children
        copy.omit = self.omit.union(keys)
        copy.whole = self.whole.difference(keys)
        return copy


class MergeRules:
    """Merge rules of one release schema: ocdsmerge's flat form, and the rule trees the fast engine walks."""

    __slots__ = ("compiled_root", "flat", "merger", "versioned_root")

    def __init__(self, flat: dict[tuple[str, ...], str]) -> None:
        self.flat = flat
        root = _Rule(())
        for path, name in flat.items():
            node = root
            for key in path[:-1]:
                node = node.children.setdefault(key, _Rule((*node.path, key)))
            if name == "omitWhenMerged":
                node.omit |= {path[-1]}
            else:
                node.whole |= {path[-1]}
        # ocdsmerge pops `tag` from every release before flattening, and does not version `ocid`.
        self.compiled_root = root.with_omitted("tag")
        self.versioned_root = root.with_omitted("tag", "ocid")
        self.merger = ocdsmerge.Merger(merge_rules=flat)


# -- rules ----------------------------------------------------------------------------------------------------
def merge_rules(schema: dict[str, Any]) -> MergeRules:
    """Return the merge rules of a (non-dereferenced) release schema, computed once per distinct schema."""
    try:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not plain JSON: nothing to key a cache on
        return MergeRules(_flat_rules(schema))
    return _cached_rules(key)


@lru_cache(maxsize=16)
def _cached_rules(key: bytes) -> MergeRules:
    return MergeRules(_flat_rules(orjson.loads(key)))


def _flat_rules(schema: dict[str, Any]) -> dict[tuple[str, ...], str]:
    """Return ``{path: "omitWhenMerged" | "wholeListMerge"}`` exactly as ``ocdsmerge.rules.get_merge_rules``."""
    try:
        resolve = _resolver(schema)
        return dict(_walk(resolve, resolve(resolve(schema)["properties"]), ()))
    except (_RemoteRef, RecursionError, LookupError, TypeError, AttributeError, ValueError):
        # Remote references need jsonref's loader, and broken schemas should fail the way ocdsmerge fails.
        return get_merge_rules(schema)


def _resolver(root: dict[str, Any]) -> Any:
    """Return a function that follows local ``$ref`` chains as ``jsonref.replace_refs`` does (siblings ignored)."""

    def resolve(node: Any) -> Any:
        for _ in range(100):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node
            uri, fragment = urldefrag(urljoin("", node["$ref"]))
            if uri:
                raise _RemoteRef(uri)
            node = root
            for part in unquote(fragment.lstrip("/")).split("/") if fragment else []:
                part = part.replace("~1", "/").replace("~0", "~")
                node = resolve(node)
                node = node[int(part)] if isinstance(node, list) and part.lstrip("-").isdigit() else node[part]
        raise RecursionError("circular $ref")

    return resolve


def _types(prop: Any) -> list[str]:
    if "type" not in prop:
        return []
    if isinstance(prop["type"], str):
        return [prop["type"]]
    return list(prop["type"])


def _walk(resolve: Any, properties: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Yield rules in the order and with the precedence of ``ocdsmerge.rules._get_merge_rules``."""
    for key, raw in properties.items():
        value = resolve(raw)
        new_path = (*path, key)
        types = _types(value)
        if value.get("omitWhenMerged") or value.get("mergeStrategy") == "ocdsOmit":
            yield new_path, "omitWhenMerged"
        elif "array" in types and (value.get("wholeListMerge") or value.get("mergeStrategy") == "ocdsVersion"):
            yield new_path, "wholeListMerge"
        elif "object" in types and "properties" in value:
            yield from _walk(resolve, resolve(value["properties"]), new_path)
        elif "array" in types and "items" in value:
            items = resolve(value["items"])
            item_types = _types(items)
            if any(item_type != "object" for item_type in item_types):
                yield new_path, "wholeListMerge"
            elif "object" in item_types and "properties" in items:
                item_properties = resolve(items["properties"])
                if "id" not in item_properties:
                    yield new_path, "wholeListMerge"
                else:
                    yield from _walk(resolve, item_properties, new_path)


# -- the merged tree ------------------------------------------------------------------------------------------
# The tree is built from plain dicts and returned as is: a dict at a path that is not whole-list merged is always a
# merged object (a dict value is otherwise recursed into). Identifier-merge arrays are _Array until the end, to tell
# them from literal lists and versioned values. Compiling and versioning have their own copies of the two hot loops,
# which differ only in how they store a leaf.
_SCALARS = frozenset({str, int, float, bool, type(None)})


class _Array(list[dict[str, Any]]):
    """An identifier-merge array being merged, with its items by ocdsmerge's key for them, ``str(id)``."""

    __slots__ = ("by_key",)
    by_key: dict[str, dict[str, Any]]


class _Context:
    """One merge's mode and release metadata, and the facts that plain dicts and lists cannot carry."""

    __slots__ = ("arrays", "fill", "late", "merge", "nulls", "release_date", "release_id", "release_tag")

    def __init__(self, *, versioned: bool) -> None:
        self.merge = _merge_versioned if versioned else _merge_compiled
        self.fill = _fill_versioned if versioned else _fill_compiled
        # releaseID, releaseDate and releaseTag of the release being versioned.
        self.release_id: Any = None
        self.release_date: Any = None
        self.release_tag: Any = None
        # Where each _Array sits, to turn it into a plain list at the end.
        self.arrays: list[tuple[dict[str, Any], str]] = []
        # id() of containers whose key was first a null leaf: that leaf precedes them in ocdsmerge's flat dict.
        self.late: set[int] = set()
        # Whether a compiled tree may hold null leaves, which ocdsmerge drops when it rebuilds the tree.
        self.nulls = False


def _is_object_array(value: list[Any]) -> bool:
    """Return whether a non-empty list is merged by ``id`` (otherwise it is a literal, whatever the schema says)."""
    for item in value:  # noqa: SIM110 - faster than all() over a generator, on every list of every release
        if not isinstance(item, dict):
            return False
    return True


def _merge_compiled(node: dict[str, Any], data: dict[str, Any], rule: _Rule, ctx: _Context) -> None:
    """Merge one release's object into an existing compiled object."""
    children = rule.children
    omit = rule.omit
    whole = rule.whole
    for key, value in data.items():
        if omit and key in omit:
            continue
        vtype = type(value)
        if vtype is str:
            old = node.get(key)
            if old is None or type(old) is str:  # the usual case
                node[key] = value
                continue
        elif whole and key in whole:
            pass  # wholeListMerge: a leaf whatever it holds
        elif vtype is dict:
            if value:  # {} stores nothing
                old = node.get(key)
                sub = children.get(key) or rule.child(key)
                if type(old) is dict:
                    _merge_compiled(old, value, sub, ctx)
                else:
                    _new_obj(node, key, value, sub, ctx, old)
            continue
        elif vtype is list:
            if not value:
                continue  # [] stores nothing unless the list is whole-list merged
            if _is_object_array(value):
                _merge_into_arr(node, key, value, children.get(key) or rule.child(key), ctx)
                continue
        elif vtype not in _SCALARS and isinstance(value, (dict, list)):
            raise _Fallback  # subclasses of dict or list: ocdsmerge's flatten treats them unlike JSON values
        old = node.get(key)
        if old is not None:
            otype = type(old)
            # (A dict at a wholeListMerge path is a leaf: no container ever sits there.)
            if (otype is dict or otype is _Array) and not (whole and key in whole):
                # A leaf after a container comes later in ocdsmerge's flat dict and is ignored, unless the key's
                # first path was a null leaf: then a non-null leaf there precedes the container.
                if value is not None and id(old) in ctx.late:
                    raise _Fallback
                continue
        node[key] = value
        if value is None:
            ctx.nulls = True


def _fill_compiled(node: dict[str, Any], data: dict[str, Any], rule: _Rule, ctx: _Context) -> None:
    """Merge one release's object into a new compiled object: no old values to look for."""
    children = rule.children
    omit = rule.omit
    whole = rule.whole
    for key, value in data.items():
        if omit and key in omit:
            continue
        vtype = type(value)
        if vtype is not str and not (whole and key in whole):
            if vtype is dict:
                if value:
                    child: dict[str, Any] = {}
                    _fill_compiled(child, value, children.get(key) or rule.child(key), ctx)
                    if child:
                        node[key] = child
                continue
            if vtype is list:
                if not value:
                    continue
                if _is_object_array(value):
                    _new_arr(node, key, value, children.get(key) or rule.child(key), ctx)
                    continue
            elif vtype not in _SCALARS and isinstance(value, (dict, list)):
                raise _Fallback
        node[key] = value
        if value is None:
            ctx.nulls = True


def _merge_versioned(node: dict[str, Any], data: dict[str, Any], rule: _Rule, ctx: _Context) -> None:
    """Merge one release's object into an existing versioned object."""
    children = rule.children
    omit = rule.omit
    whole = rule.whole
    release_id, release_date, release_tag = ctx.release_id, ctx.release_date, ctx.release_tag
    for key, value in data.items():
        if omit and key in omit:
            continue
        vtype = type(value)
        if vtype is not str and not (whole and key in whole):
            if vtype is dict:
                if value:
                    old = node.get(key)
                    sub = children.get(key) or rule.child(key)
                    if type(old) is dict:
                        _merge_versioned(old, value, sub, ctx)
                    else:
                        _new_obj(node, key, value, sub, ctx, old)
                continue
            if vtype is list:
                if not value:
                    continue
                if _is_object_array(value):
                    _merge_into_arr(node, key, value, children.get(key) or rule.child(key), ctx)
                    continue
            elif vtype not in _SCALARS and isinstance(value, (dict, list)):
                raise _Fallback
        old = node.get(key)
        if old is None:
            node[key] = [
                {"releaseID": release_id, "releaseDate": release_date, "releaseTag": release_tag, "value": value}
            ]
        # ocdsmerge's own test (`not ==`), so 1 == 1.0 == True adds no entry.
        elif type(old) is list and not (value == old[-1]["value"]):  # noqa: SIM201
            old.append(
                {"releaseID": release_id, "releaseDate": release_date, "releaseTag": release_tag, "value": value}
            )
        # else: unchanged, a container (a leaf after it is ignored) or the plain `id` of an array item.


def _fill_versioned(node: dict[str, Any], data: dict[str, Any], rule: _Rule, ctx: _Context) -> None:
    """Merge one release's object into a new versioned object."""
    children = rule.children
    omit = rule.omit
    whole = rule.whole
    release_id, release_date, release_tag = ctx.release_id, ctx.release_date, ctx.release_tag
    for key, value in data.items():
        if omit and key in omit:
            continue
        vtype = type(value)
        if vtype is not str and not (whole and key in whole):
            if vtype is dict:
                if value:
                    child: dict[str, Any] = {}
                    _fill_versioned(child, value, children.get(key) or rule.child(key), ctx)
                    if child:
                        node[key] = child
                continue
            if vtype is list:
                if not value:
                    continue
                if _is_object_array(value):
                    _new_arr(node, key, value, children.get(key) or rule.child(key), ctx)
                    continue
            elif vtype not in _SCALARS and isinstance(value, (dict, list)):
                raise _Fallback
        # This overwrites an array item's plain `id`, which _merge_arr puts back.
        node[key] = [{"releaseID": release_id, "releaseDate": release_date, "releaseTag": release_tag, "value": value}]


def _new_obj(node: dict[str, Any], key: str, value: dict[str, Any], rule: _Rule, ctx: _Context, old: Any) -> None:
    """Merge one release's object where there is no merged object yet (``old`` is what is there)."""
    child: dict[str, Any] = {}
    ctx.fill(child, value, rule, ctx)
    if child:  # objects holding only empties store nothing
        if old is None and key not in node:
            node[key] = child
        else:
            _attach(node, key, child, ctx)


def _merge_into_arr(node: dict[str, Any], key: str, items: list[dict[str, Any]], rule: _Rule, ctx: _Context) -> None:
    """Merge one release's array of objects at ``key`` of an existing merged object."""
    old = node.get(key)
    if type(old) is _Array:
        _merge_arr(old, items, rule, ctx)
    else:
        _new_arr(node, key, items, rule, ctx)


def _new_arr(node: dict[str, Any], key: str, items: list[dict[str, Any]], rule: _Rule, ctx: _Context) -> None:
    """Merge one release's array of objects where there is no merged array yet."""
    child = _Array()
    child.by_key = {}
    _merge_arr(child, items, rule, ctx)
    if child:
        if key in node:
            _attach(node, key, child, ctx)
        else:
            node[key] = child
        ctx.arrays.append((node, key))


def _attach(node: dict[str, Any], key: str, child: Any, ctx: _Context) -> None:
    """Store a new, non-empty container at ``key``, which already holds a leaf."""
    if node[key] is not None:
        raise _Fallback  # a literal, a list or a versioned leaf came first: ocdsmerge raises or mixes types
    # Only a null leaf, which ocdsmerge does not build: the container takes its place from now on.
    del node[key]
    ctx.late.add(id(child))
    node[key] = child


def _merge_arr(arr: _Array, items: list[dict[str, Any]], rule: _Rule, ctx: _Context) -> None:
    """Merge one release's array of objects by ``id``; items share the array's rule path."""
    if "id" in rule.omit:
        raise _Fallback
    index = arr.by_key
    fill = ctx.fill
    merge = ctx.merge
    seen: set[str] | None = set() if len(items) > 1 else None
    for item in items:
        ident = item.get("id", _ABSENT)
        if ident is _ABSENT:
            new: dict[str, Any] = {}
            fill(new, item, rule, ctx)
            if new:  # id-less items are always new
                arr.append(new)
            continue
        itype = type(ident)
        # ocdsmerge keys items by str(id) but rebuilds them by Python value; the two agree for str and int
        # ids as long as one array never mixes 1 and "1".
        if itype is str:
            skey = ident
        elif itype is int:
            skey = str(ident)
        else:
            raise _Fallback
        if seen is not None:
            if skey in seen:
                if merge is _merge_versioned:
                    # ocdsmerge versions the last value a release gives a path; these items write it twice.
                    raise _Fallback
                warnings.warn(
                    f"Multiple objects have the `id` value {skey!r} in the `{'.'.join(rule.path)}` array",
                    category=DuplicateIdValueWarning,
                    stacklevel=2,
                )
            else:
                seen.add(skey)
        obj = index.get(skey)
        if obj is None:
            obj = {"id": ident}  # `id` comes first, and stays plain when versioning
            fill(obj, item, rule, ctx)
            obj["id"] = ident
            index[skey] = obj
            arr.append(obj)
        elif type(obj["id"]) is not itype:
            raise _Fallback
        else:
            merge(obj, item, rule, ctx)


def _drop_nulls(node: dict[str, Any], rule: _Rule) -> None:
    """Delete null leaves from the merged tree (in place), as ocdsmerge's unflatten skips them."""
    for key in [key for key, value in node.items() if value is None]:
        del node[key]
    whole = rule.whole
    for key, value in node.items():
        if whole and key in whole:
            continue  # a leaf: its contents are the release's own
        vtype = type(value)
        if vtype is dict:
            _drop_nulls(value, rule.children.get(key) or rule.child(key))
        elif vtype is _Array:
            sub = rule.children.get(key) or rule.child(key)
            for item in value:
                _drop_nulls(item, sub)


def _merge(ordered: list[dict[str, Any]], rules: MergeRules, *, versioned: bool) -> dict[str, Any]:
    root: dict[str, Any] = {}
    ctx = _Context(versioned=versioned)
    if versioned:
        rule = rules.versioned_root
    else:
        rule = rules.compiled_root
        root["tag"] = ["compiled"]
    merge = ctx.fill  # the first release finds nothing to merge with
    for release in ordered:
        if not isinstance(release, dict):
            raise _Fallback
        ocid = release.get("ocid")
        date = release.get("date")
        release_id = release.get("id")
        if isinstance(ocid, (dict, list)) or isinstance(date, (dict, list)) or isinstance(release_id, (dict, list)):
            raise _Fallback
        if versioned:
            root["ocid"] = ocid
            ctx.release_id, ctx.release_date, ctx.release_tag = release_id, date, release.get("tag")
        else:
            root["id"] = f"{ocid}-{date}"
            root["date"] = date
            root["ocid"] = ocid
        merge(root, release, rule, ctx)
        merge = ctx.merge
    if versioned:
        if root.get("ocid", True) is None:
            del root["ocid"]
    elif ctx.nulls or (ordered and (root["date"] is None or root["ocid"] is None)):
        _drop_nulls(root, rule)
    for parent, key in ctx.arrays:
        parent[key] = list(parent[key])
    return root


# -- public API -----------------------------------------------------------------------------------------------
def compile_release(releases: list[dict[str, Any]], rules: MergeRules) -> dict[str, Any]:
    """Return the compiled release of one ocid's releases, equal to ``Merger.create_compiled_release``."""
    ordered = sorted_releases(releases)
    try:
        return _merge(ordered, rules, versioned=False)
    except _Fallback:
        return rules.merger.create_compiled_release(ordered)


def versioned_release(releases: list[dict[str, Any]], rules: MergeRules) -> dict[str, Any]:
    """Return the versioned release of one ocid's releases, equal to ``Merger.create_versioned_release``."""
    ordered = sorted_releases(releases)
    try:
        return _merge(ordered, rules, versioned=True)
    except _Fallback:
        return rules.merger.create_versioned_release(ordered)


def compile_stream(
    releases: Iterable[dict[str, Any]], schema: dict[str, Any], *, versioned: bool = False
) -> Iterator[dict[str, Any]]:
    """Yield one compiled (or versioned) release per exact ocid string, ordered by ocid, as ``ocdskit compile``."""
    rules = merge_rules(schema)
    groups: dict[str, list[dict[str, Any]]] = {}
    for release in releases:
        groups.setdefault(release["ocid"], []).append(release)
    build = versioned_release if versioned else compile_release
    for ocid in sorted(groups):
        yield build(groups[ocid], rules)
