"""Stored image links become paths: no host from a request's Host header is kept.

Avatars (``users.avatar_url``) and logos (``applications.logo_url``) were stored as
absolute URLs built from ``TEKCIFY_PUBLIC_URL`` or, without it, from the uploader's
``Host`` header, which anyone could set (issue 10, item 14). The server now stores
``/api/images/{id}.{png|jpg}`` and builds the URL when it answers. This revision strips
the scheme and host from every stored link that points at an image of this server;
links elsewhere stay as they are.

The downgrade keeps the paths: the host they were uploaded through is not known, and
the earlier code serves a path as it is (a URL relative to the server).

Revision ID: 0007_input
Revises: 0006_aud
Create Date: 2026-12-03
"""

from __future__ import annotations

import re
from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0007_input"
down_revision = "0006_aud"
branch_labels = None
depends_on = None

# Our own image links, as services/image_store.py made them: scheme, host, and the path.
_OURS: Final = re.compile(
    r"\Ahttps?://[^/?#]+(/api/images/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
    r"[0-9a-f]{12}\.(?:png|jpg))\Z"
)
_COLUMNS: Final = (("users", "id", "avatar_url"), ("applications", "client_id", "logo_url"))


def upgrade() -> None:
    connection = op.get_bind()
    for table_name, key, column in _COLUMNS:
        table = sa.table(table_name, sa.column(key), sa.column(column))
        rows = connection.execute(
            sa.select(table.c[key], table.c[column]).where(
                table.c[column].like("%/api/images/%")
            )
        ).all()
        for row_key, url in rows:
            found = _OURS.match(url)
            if found is not None:
                connection.execute(
                    table.update().where(table.c[key] == row_key).values({column: found[1]})
                )


def downgrade() -> None:
    pass  # see the module docstring: paths stay
