"""The UI's words: key -> (Simplified Chinese, English).

Protocol texts (errors, decisions, statuses) come from :mod:`sync_protocol.texts`; these are the
screens' own labels. A key missing here renders as ``⟦key⟧`` so a test finds it on the page.
"""

from __future__ import annotations

from store_node.ui import texts_returns, texts_stock, texts_tickets

MISSING = "⟦{key}⟧"

UI_TEXTS: dict[str, tuple[str, str]] = {
    # Shell and navigation.
    "app_name": ("StoreDesk 门店工单", "StoreDesk store desk"),
    "nav_home": ("首页", "Home"),
    "nav_new_ticket": ("新建工单", "New ticket"),
    "nav_stock": ("库存查询", "Stock"),
    "nav_transfers": ("调货", "Transfers"),
    "nav_returns": ("退换货", "Returns"),
    "nav_sync": ("同步", "Sync"),
    "online": ("在线", "Online"),
    "offline": ("离线", "Offline"),
    "pending_ops": ("待同步 {count} 条", "{count} to sync"),
    "last_sync": ("上次同步：{age}", "Last sync: {age}"),
    "never_synced": ("尚未同步", "Not synced yet"),
    "switch_language": ("English", "中文"),
    "signed_in_as": ("当前店员：{name}", "Clerk: {name}"),
    "sign_out": ("退出", "Sign out"),
    "not_enrolled": (
        "本机尚未连上总部完成登记，连上后即可使用。",
        "This PC has not reached HQ to enrol yet; it can be used once it has.",
    ),
    # Sign-in.
    "signin_title": ("店员登录", "Clerk sign-in"),
    "signin_name": ("姓名", "Name"),
    "signin_staff_no": ("工号", "Staff number"),
    "signin_button": ("登录", "Sign in"),
    "signin_hint": (
        "登录后，您建立的工单、评论和操作都会记录您的姓名。",
        "Tickets, comments and steps you make are recorded under your name.",
    ),
    "signin_name_required": ("请填写姓名", "Enter your name"),
    "signin_no_accounts": (
        "本店尚未收到总部下发的店员账号，暂时凭姓名登录。",
        "This store has no staff accounts from HQ yet: sign in with your name for now.",
    ),
    "signin_username": ("用户名", "Username"),
    "signin_secret": ("密码或 PIN", "Password or PIN"),
    "signin_accounts_hint": (
        "使用总部为您开设的账号登录，断网时也可登录。您建立的工单、评论和操作都会记录您的姓名。",
        "Sign in with the account HQ set up for you; this works offline too. Tickets, comments and"
        " steps you make are recorded under your name.",
    ),
    "signin_fields_required": ("请填写用户名和密码或 PIN", "Enter your username and your password or PIN"),
    "signin_bad_credentials": ("用户名或密码/PIN 不正确", "Wrong username or password/PIN"),
    "signin_locked": (
        "登录失败次数过多，该用户名在本机已锁定，请 {minutes} 分钟后再试。",
        "Too many failed sign-ins: this username is locked on this PC for {minutes} more min.",
    ),
    # Age of a figure.
    "age_seconds": ("{n} 秒前", "{n} s ago"),
    "age_minutes": ("{n} 分钟前", "{n} min ago"),
    "age_hours": ("{n} 小时前", "{n} h ago"),
    "age_days": ("{n} 天前", "{n} days ago"),
    # Home.
    "home_title": ("本店工单", "This store's tickets"),
    "home_open_tickets": ("处理中的工单", "Open tickets"),
    "home_no_tickets": ("暂无处理中的工单", "No open tickets"),
    "col_number": ("编号", "Number"),
    "col_type": ("类型", "Type"),
    "col_title": ("标题", "Title"),
    "col_status": ("状态", "Status"),
    "col_handler": ("处理人", "Handled by"),
    "col_updated": ("更新", "Updated"),
    "col_sync": ("同步", "Sync"),
    "awaiting_routing": ("待总部分派", "Awaiting HQ"),
    "sync_pending": ("待同步", "Not yet sent"),
    "sync_synced": ("已同步", "Synced"),
    "sync_rejected": ("被拒绝", "Refused"),
    "home_rejected_notice": (
        "有 {count} 项操作被总部拒绝，请查看原因并处理。",
        "{count} of your changes were refused by HQ: see why and what to do.",
    ),
    # Sync (the outbox).
    "sync_title": ("同步状态", "Sync status"),
    "sync_draining": ("正在上传离线期间的操作：还剩 {count} 条", "Sending what was done offline: {count} left"),
    "sync_all_sent": ("所有操作都已送达总部。", "Everything has reached HQ."),
    "sync_waiting_hq": (
        "总部暂时连不上，操作已保存在本机，恢复后自动上传。",
        "HQ cannot be reached; your work is kept here and goes out when it is back.",
    ),
    "sync_rejected_title": ("被总部拒绝的操作", "Changes HQ refused"),
    "sync_rejected_none": ("没有被拒绝的操作。", "Nothing was refused."),
    "sync_col_what": ("操作", "Change"),
    "sync_col_reason": ("原因", "Reason"),
    "sync_col_next": ("下一步", "What to do"),
    "sync_col_when": ("时间", "When"),
    "sync_last_error": ("最近一次错误：{error}", "Last error: {error}"),
    "op_ticket_create": ("新建工单", "New ticket"),
    "op_ticket_set": ("修改工单", "Ticket change"),
    "op_ticket_comment": ("工单评论", "Comment"),
    "op_ticket_status": ("工单状态", "Status change"),
    "op_stock_move": ("库存变动", "Stock movement"),
    "op_transfer_request": ("调货申请", "Transfer request"),
    "op_transfer_step": ("调货操作", "Transfer step"),
    "op_return_create": ("退换货", "Return"),
    "next_upgrade": (
        "请升级本机的 StoreDesk，升级后会自动重新上传。",
        "Upgrade StoreDesk on this PC; it sends the change again after the upgrade.",
    ),
    "next_fix_resend": (
        "请按原因修改后重新提交；原内容仍可在记录中查看。",
        "Correct it as the reason says and submit it again; what you entered is still shown in the record.",
    ),
    "next_return_exception": (
        "总部已转财务处理，请留意该退货单的异常工单并联系顾客。",
        "HQ passed it to finance: follow the return's exception ticket and contact the customer.",
    ),
    "next_stock": (
        "请核对实物库存，必要时做盘点调整。",
        "Check the goods on the shelf and adjust the stock if needed.",
    ),
    "next_transfer": (
        "请查看调货单的最新状态，必要时重新申请。",
        "Check the transfer's latest status and request again if needed.",
    ),
    "next_merged": ("总部已有更新的内容，本机已按总部的版本显示。", "HQ had a newer version; this PC now shows HQ's."),
    "open_record": ("查看", "Open"),
}


for _screen in (texts_tickets.TEXTS, texts_stock.TEXTS, texts_returns.TEXTS):
    for _key in _screen:
        if _key in UI_TEXTS:
            raise RuntimeError(f"UI text {_key!r} is defined twice")
    UI_TEXTS.update(_screen)


def t(key: str, lang: str, **params: object) -> str:
    """The UI text ``key`` in ``lang`` (``zh`` or ``en``), with ``params`` filled in."""
    pair = UI_TEXTS.get(key)
    if pair is None:
        return MISSING.format(key=key)
    template = pair[1] if lang == "en" else pair[0]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
