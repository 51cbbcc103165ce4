"""Whether an ordering can be read off one of a model's indexes instead of sorting every row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models


def read_off_an_index(model: type[models.Model], order_by: Sequence[Any]) -> bool:
    """True when ``order_by`` is an index's columns then the primary key, all in one direction.

    InnoDB keeps the primary key after the columns of every other index, so such an ordering walks
    that index (either way) and stops after a page.
    """
    if not order_by or not all(isinstance(key, str) for key in order_by):
        return False
    if len({key.startswith("-") for key in order_by}) != 1:
        return False
    pk = model._meta.pk.name
    names = [pk if name == "pk" else name for name in (key.lstrip("-") for key in order_by)]
    if names[-1] != pk:
        return False
    columns = names[:-1]
    indexed = [[name for name in index.fields if name != pk] for index in model._meta.indexes]
    return columns == [] or columns in indexed
