"""``unread_notifications`` for the header of every page: counted once, and only if the page shows it."""

from __future__ import annotations

from functools import cache


def notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @cache
    def unread() -> int:
        from apps.governance.selectors import unread_count

        return unread_count(user=user)

    return {"unread_notifications": unread}
