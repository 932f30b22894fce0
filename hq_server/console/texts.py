"""The console's words: key -> (Simplified Chinese, English); one table per screen group, merged
here. A missing key renders as ``⟦key⟧`` so a test finds it on the page."""

from __future__ import annotations

from hq_server.console import texts_admin_org, texts_admin_service, texts_queue, texts_reports

MISSING = "⟦{key}⟧"

CONSOLE_TEXTS: dict[str, tuple[str, str]] = {
    "c_app_name": ("StoreDesk 总部控制台", "StoreDesk HQ console"),
    "c_nav_queue": ("工单队列", "Queue"),
    "c_nav_board": ("看板", "Board"),
    "c_nav_dashboard": ("报表", "Dashboard"),
    "c_nav_admin": ("系统设置", "Administration"),
    "c_switch_language": ("English", "中文"),
    "c_sign_out": ("退出", "Sign out"),
    "c_signed_in_as": ("{name}（{role}）", "{name} ({role})"),
    "c_forbidden": ("您没有查看此页面的权限。", "You may not see this page."),
    "c_not_found": ("找不到该页面。", "No such page."),
}

for _screen in (texts_queue.TEXTS, texts_reports.TEXTS, texts_admin_org.TEXTS, texts_admin_service.TEXTS):
    for _key in _screen:
        if _key in CONSOLE_TEXTS:
            raise RuntimeError(f"console text {_key!r} is defined twice")
    CONSOLE_TEXTS.update(_screen)


def t(key: str, lang: str, **params: object) -> str:
    """The console text ``key`` in ``lang``, with ``params`` filled in."""
    pair = CONSOLE_TEXTS.get(key)
    if pair is None:
        return MISSING.format(key=key)
    template = pair[1] if lang == "en" else pair[0]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
