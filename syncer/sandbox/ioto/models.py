"""The cloud schema's models as the sandbox needs them: key templates, natural keys, key conditions,
and what a write must carry.

From `specs/ioto-cloud-schema.json5` (embedthis/ioto `CloudSchema.json5`): every item lives in one
DynamoDB table under a hidden `pk`/`sk` built from templates such as `s#${accountId}#${deviceId}`.
A find turns the attributes it is given into a key condition (the `pk`, then a `sk` prefix) as
far as the templates allow; the remaining attributes become filters evaluated after the read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Item = dict[str, Any]
#: an item's primary key, (pk, sk); tuples sort the way DynamoDB orders a scan here
Key = tuple[str, str]

_VARIABLE = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class Template:
    """A key template: literal text with `${attribute}` slots."""

    text: str

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(_VARIABLE.findall(self.text))

    @property
    def literal_prefix(self) -> str:
        """The text before the first slot (`s#` for `s#${accountId}#${deviceId}`)."""
        return _VARIABLE.split(self.text)[0]

    def render(self, values: Mapping[str, Any]) -> str:
        return _VARIABLE.sub(lambda m: str(values[m.group(1)]), self.text)

    def prefix(self, values: Mapping[str, Any]) -> tuple[str, bool, frozenset[str]]:
        """Render up to the first slot `values` cannot fill with a string.

        Returns (text, complete, attributes used).
        """
        parts = _VARIABLE.split(self.text)  # literal, name, literal, name, ..., literal
        text = parts[0]
        used: set[str] = set()
        for i in range(1, len(parts), 2):
            value = values.get(parts[i])
            if not isinstance(value, str) or not value:
                return text, False, frozenset(used)
            used.add(parts[i])
            text += value + parts[i + 1]
        return text, True, frozenset(used)


@dataclass(frozen=True)
class KeyCondition:
    """The part of a find that DynamoDB reads by key: one partition, or a span of partitions."""

    #: the whole partition key (complete) or a prefix of it
    pk: str
    complete: bool
    #: a prefix of the sort key within the partition ("" = all), or the whole sort key (exact)
    sk: str
    exact: bool
    #: attributes the condition consumed (they are not filters too)
    used: frozenset[str]

    def admits(self, key: Key) -> bool:
        """Whether `key` lies inside the span this condition reads."""
        pk, sk = key
        if not self.complete:
            return pk.startswith(self.pk)
        return pk == self.pk and (sk == self.sk if self.exact else sk.startswith(self.sk))


@dataclass(frozen=True)
class Model:
    """One model of the cloud schema."""

    name: str
    pk: Template
    sk: Template
    #: attributes forming the natural key, joined with "/" (Store: "deviceId/key")
    natural: tuple[str, ...]
    #: attributes a create must carry besides the natural key (schema `required`, not `accountId`)
    required: tuple[str, ...] = ()
    #: (attribute, value) filled in on create when left out (schema `default`; `expires: null`)
    defaults: tuple[tuple[str, Any], ...] = ()
    #: the natural-key attribute a create may leave out: the sandbox makes a ULID (`generate`)
    generated: str | None = None
    #: whether items carry `created` (set on insert, kept by later writes)
    has_created: bool = False

    def key(self, item: Mapping[str, Any]) -> Key:
        return self.pk.render(item), self.sk.render(item)

    def natural_key(self, item: Mapping[str, Any]) -> str:
        return "/".join(str(item[name]) for name in self.natural)

    def key_condition(self, attributes: Mapping[str, Any]) -> KeyCondition:
        """The key condition `attributes` allow: the pk as far as known; a sk under a full pk."""
        pk, complete, used = self.pk.prefix(attributes)
        if not complete:
            return KeyCondition(pk, False, "", False, used)
        sk, exact, sk_used = self.sk.prefix(attributes)
        return KeyCondition(pk, True, sk, exact, used | sk_used)


_TTL = (("expires", None),)

MODELS: dict[str, Model] = {
    model.name: model
    for model in (
        Model("Device", Template("d#${accountId}"), Template("d#${id}"), ("id",), has_created=True),
        Model(
            "Store",
            Template("s#${accountId}#${deviceId}"),
            Template("s#${key}"),
            ("deviceId", "key"),
            required=("value", "type"),
            defaults=_TTL,
        ),
        Model(
            "Log",
            Template("l#${accountId}#${deviceId}"),
            Template("l#${id}"),
            ("id",),
            required=("deviceId",),
            defaults=(("context", {}), *_TTL),
            generated="id",
            # the schema this sandbox follows has no Log `created`; later versions add it
            has_created=True,
        ),
        # known to the schema but never populated by the dataset: only writes fill them
        Model(
            "Command",
            Template("command#"),
            Template("command#${accountId}#${deviceId}#${id}"),
            ("id",),
            required=("deviceId", "command"),
            defaults=(("args", {}), *_TTL),
            generated="id",
            has_created=True,
        ),
        Model(
            "Broadcast",
            Template("bcast#${accountId}#${deviceId}"),
            Template("bcast#${key}"),
            ("deviceId", "key"),
            required=("value", "type"),
            defaults=_TTL,
            has_created=True,
        ),
    )
}

#: the models that hold generated data, in the order generations and stats visit them
DATA_MODELS = ("Device", "Store", "Log")
