"""People-facing texts of protocol outcomes, in Simplified Chinese (default) and English.

Machine codes are stable; texts may change. ``text(code, lang, **params)`` renders one; an unknown
code falls back to the code itself so nothing is ever shown blank.
"""

from __future__ import annotations

DEFAULT_LANG = "zh"
LANGS = ("zh", "en")

TEXTS: dict[str, dict[str, str]] = {
    "required": {"zh": "{field}为必填项", "en": "{field} is required"},
    "too_long": {"zh": "{field}过长", "en": "{field} is too long"},
    "invalid_text": {
        "zh": "{field}含有无法保存的字符",
        "en": "{field} holds characters that cannot be stored",
    },
    "invalid_type": {"zh": "{field}格式不正确", "en": "{field} has the wrong type"},
    "invalid_choice": {"zh": "{field}的取值无效", "en": "{field} has an invalid value"},
    "unknown_field": {"zh": "未知字段 {field}", "en": "unknown field {field}"},
    "hq_only_field": {"zh": "{field}只能由总部修改", "en": "{field} can only be changed by HQ"},
    "invalid_transition": {
        "zh": "工单状态不能从「{from_label}」改为「{to_label}」",
        "en": "the ticket cannot go from '{from_label}' to '{to_label}'",
    },
    "unknown_ticket": {"zh": "总部找不到该工单", "en": "HQ does not know this ticket"},
    "unknown_ticket_type": {"zh": "未知的工单类型 {value}", "en": "unknown ticket type {value}"},
    "upgrade_required": {
        "zh": "总部版本过旧，暂不支持此操作（{kind}），升级后自动重试",
        "en": "HQ is too old for this operation ({kind}); it will be retried after the upgrade",
    },
    "malformed_op": {"zh": "操作数据无法解析：{detail}", "en": "the operation could not be read: {detail}"},
    "wrong_store": {"zh": "该操作不属于本门店", "en": "the operation belongs to another store"},
    "clock_clamped": {
        "zh": "门店电脑时间超前，已按总部时间记录",
        "en": "the store PC's clock is ahead; HQ recorded its own time",
    },
    "superseded": {
        "zh": "已被更新的修改覆盖：{fields}",
        "en": "overtaken by a later change: {fields}",
    },
    "duplicate": {"zh": "重复提交，已忽略", "en": "already received; ignored"},
    # HTTP errors of HQ's sync endpoints and staff API.
    "unauthorized": {"zh": "缺少或无效的访问令牌", "en": "missing or invalid access token"},
    "wrong_node": {"zh": "该操作不属于本节点", "en": "the operation belongs to another node"},
    "not_found": {"zh": "找不到请求的资源", "en": "not found"},
    "ticket_not_found": {"zh": "找不到工单 {value}", "en": "no ticket {value}"},
    "unknown_store": {"zh": "未知的门店 {value}", "en": "unknown store {value}"},
    "unknown_department": {"zh": "未知的部门 {value}", "en": "unknown department {value}"},
    "notice_escalation": {"zh": "工单 {number} 已升级：{step_name}", "en": "Ticket {number} escalated: {step_name}"},
    "notification_not_found": {"zh": "找不到该通知", "en": "no such notification"},
    "invalid_steps": {"zh": "{field}格式不正确：应为升级步骤列表", "en": "{field} must be a list of steps"},
    "unknown_agent": {"zh": "{value} 不是该部门的在职客服", "en": "{value} is not an active agent of the department"},
    "missing_field": {"zh": "请填写「{label_zh}」", "en": "Please fill in '{label_en}'"},
    "invalid_survey_link": {"zh": "调查链接无效", "en": "the survey link is not valid"},
    "survey_expired": {"zh": "调查链接已过期", "en": "the survey link has expired"},
    "survey_already_answered": {"zh": "该调查已提交过评价", "en": "this survey has already been answered"},
    "invalid_url": {
        "zh": "{field}不是有效的网址（须以 http:// 或 https:// 开头并包含主机名，最多 500 个字符）",
        "en": "{field} must be an http:// or https:// address with a host, at most 500 characters",
    },
    "webhook_not_found": {"zh": "找不到 Webhook {value}", "en": "no webhook {value}"},
    "not_owner": {
        "zh": "只有负责部门（{department}）可以执行此操作",
        "en": "only the owning department ({department}) may do this",
    },
    "not_your_task": {"zh": "只能更新本部门（{department}）的协办任务", "en": "only {department} updates its own task"},
    "not_involved": {"zh": "本部门未参与该工单", "en": "your department is not involved in this ticket"},
    "share_not_found": {"zh": "该工单未与 {value} 协办", "en": "the ticket is not shared with {value}"},
    "share_with_owner": {"zh": "不能与负责部门自身协办", "en": "cannot share a ticket with its own department"},
    "link_to_itself": {"zh": "不能关联工单自身", "en": "a ticket cannot be linked to itself"},
    "already_closed": {"zh": "工单 {value} 已关闭", "en": "ticket {value} is already closed"},
    "notice_shared": {"zh": "工单 {number} 需要本部门协办", "en": "Ticket {number} was shared with your department"},
    "unknown_channel": {"zh": "未知的接入渠道 {value}", "en": "unknown intake channel {value}"},
    "customer_not_found": {"zh": "找不到顾客 {value}", "en": "no customer {value}"},
    "awaiting_routing": {"zh": "等待总部分派部门", "en": "Awaiting routing at HQ"},
    "routed_to": {"zh": "已转至{department}", "en": "Routed to {department}"},
    "invalid_rules_file": {
        "zh": "规则文件不是有效的 JSON：{detail}",
        "en": "the rules file is not valid JSON: {detail}",
    },
    "invalid_rules": {"zh": "{field}格式不正确：应为规则列表", "en": "{field} must be a list of rules"},
    "duplicate_rule": {"zh": "规则编号重复：{field}", "en": "duplicate rule id at {field}"},
    "invalid_calendar": {
        "zh": "营业时间设置有误（{field}）：{reason}",
        "en": "invalid business hours ({field}): {reason}",
    },
    "invalid_policy": {"zh": "时效规则设置有误（{field}）", "en": "invalid SLA policy ({field})"},
    "method_not_allowed": {"zh": "不支持该请求方法", "en": "method not allowed"},
    "malformed_body": {
        "zh": "请求内容无法解析：{detail}",
        "en": "the request body could not be read: {detail}",
    },
    "malformed_json": {"zh": "请求内容不是有效的 JSON 对象", "en": "the request body is not a JSON object"},
    "out_of_range": {
        "zh": "{field}应在 {minimum} 到 {maximum} 之间",
        "en": "{field} must be between {minimum} and {maximum}",
    },
    "not_enrolled": {
        "zh": "门店尚未连接过总部，请先联网完成首次同步",
        "en": "this store has not reached HQ yet; connect once to finish setting it up",
    },
    "identity_mismatch": {
        "zh": "本机数据属于另一台门店电脑（{known}），与令牌（{token_node}）不符",
        "en": "this PC's data belongs to another store PC ({known}) than the token ({token_node})",
    },
    "invalid_json": {"zh": "请求内容不是有效的 JSON 对象", "en": "the request body is not a JSON object"},
    "invalid_param": {"zh": "参数 {field} 的值无效", "en": "parameter {field} has an invalid value"},
    "invalid_time": {
        "zh": "{field}应为 ISO 8601 时间（如 2025-01-31T18:00:00+08:00）或空",
        "en": "{field} must be an ISO 8601 time (such as 2025-01-31T18:00:00+08:00) or null",
    },
    "invalid_cursor": {"zh": "同步游标格式不正确", "en": "the sync cursor is malformed"},
    "too_many_ops": {
        "zh": "一次最多提交 {limit} 个操作（本次 {count} 个）",
        "en": "at most {limit} operations per push ({count} sent)",
    },
    "body_too_large": {
        "zh": "请求内容过大（上限 {limit} 字节）",
        "en": "the request body is too large (limit {limit} bytes)",
    },
    "seq_gap": {
        "zh": "操作序号不连续：总部需要从第 {expected_seq} 号开始，本批未处理",
        "en": "operations are out of sequence: HQ expects seq {expected_seq}; nothing was applied",
    },
    "seq_reused": {
        "zh": "操作序号 {seq} 已被另一操作使用（门店数据可能从旧备份恢复）：本批未处理，"
        "门店将从第 {expected_seq} 号起重新编号后再发",
        "en": "seq {seq} was used by another operation (the store's data may come from an old backup):"
        " nothing was applied; the store numbers its operations again from {expected_seq}",
    },
    "seq_order": {
        "zh": "一批操作的序号必须递增且大于 0",
        "en": "the operations of a push must have increasing seqs above 0",
    },
    "unsupported_protocol": {
        "zh": "不支持的同步协议版本 {value}（总部支持 {supported}），请升级门店软件",
        "en": "unsupported sync protocol {value} (HQ supports {supported}); upgrade the store software",
    },
    "store_internal_error": {
        "zh": "本机程序出错，请稍后重试；反复出现请联系总部 IT",
        "en": "this store PC's program had an error; try again, and tell HQ IT if it keeps happening",
    },
    "internal_error": {
        "zh": "总部服务器内部错误，请稍后重试",
        "en": "HQ had an internal error; try again later",
    },
    "service_unavailable": {
        "zh": "总部数据库暂时不可用，请稍后重试",
        "en": "HQ's database is unavailable; try again later",
    },
    # Operator errors of the ``storedesk hq`` command.
    "invalid_db_url": {"zh": "数据库地址无效：{value}", "en": "invalid database address: {value}"},
    "db_unreachable": {"zh": "无法打开数据库：{detail}", "en": "cannot open the database: {detail}"},
    "admin_token_required": {
        "zh": "必须提供管理员令牌（--admin-token 或环境变量 STOREDESK_ADMIN_TOKEN）",
        "en": "an admin token is required (--admin-token or STOREDESK_ADMIN_TOKEN)",
    },
    # Stock and transfers.
    "unknown_sku": {"zh": "未知的商品 SKU {value}", "en": "unknown SKU {value}"},
    "invalid_qty": {
        "zh": "{field}必须是不为 0 的整数，且不超过 100000（销售、入库、退货填正数，盘点调整可为负数）",
        "en": "{field} must be a whole number other than 0, at most 100000"
        " (positive for sales, receipts and returns; an adjustment may be negative)",
    },
    "transfer_to_self": {"zh": "不能向本店调货", "en": "a store cannot request a transfer from itself"},
    "insufficient_stock": {
        "zh": "{store}的 {sku} 可调库存仅剩 {left} 件，不够本次调货；其他有货门店：{others}",
        "en": "{store} has only {left} of {sku} left to transfer, not enough; other stores with stock: {others}",
    },
    "no_store_has_stock": {
        "zh": "没有门店有足够的 {sku} 可调（需要 {qty} 件）",
        "en": "no store has {qty} of {sku} to transfer",
    },
    "invalid_coordinate": {
        "zh": "{field}必须是 -{limit} 到 {limit} 之间的数字",
        "en": "{field} must be a number from -{limit} to {limit}",
    },
    "unknown_transfer": {"zh": "总部找不到该调货单", "en": "HQ does not know this transfer"},
    "transfer_not_found": {"zh": "找不到调货单 {value}", "en": "no transfer {value}"},
    "not_your_step": {
        "zh": "本店不能对该调货单执行「{action_label}」",
        "en": "this store cannot '{action_label}' this transfer",
    },
    "invalid_transfer_step": {
        "zh": "调货单当前为「{status_label}」，不能「{action_label}」",
        "en": "the transfer is '{status_label}'; it cannot be '{action_label}'",
    },
    "rejected_by_source": {"zh": "调出门店拒绝：{reason}", "en": "rejected by the source store: {reason}"},
    # Product catalogue import (CSV).
    "csv_missing_column": {"zh": "CSV 缺少列 {column}", "en": "the CSV has no column {column}"},
    "csv_required": {"zh": "第 {line} 行：{field}为必填项", "en": "line {line}: {field} is required"},
    "invalid_csv_value": {"zh": "第 {line} 行：{field}的值无效", "en": "line {line}: {field} has an invalid value"},
    "csv_duplicate_sku": {
        "zh": "第 {line} 行：SKU {value} 重复",
        "en": "line {line}: SKU {value} appears twice",
    },
    "sku_of_other_product": {
        "zh": "SKU {value} 已属于商品 {product}",
        "en": "SKU {value} already belongs to product {product}",
    },
    "product_not_found": {"zh": "找不到商品 {value}", "en": "no product {value}"},
    "file_unreadable": {"zh": "无法读取文件：{detail}", "en": "cannot read the file: {detail}"},
    "invalid_store_code": {
        "zh": "门店编码只能包含字母、数字和 _（不能有 -，工单号用它分隔），最长 {limit} 个字符",
        "en": "a store code may hold only letters, digits and _ (no -, which separates ticket numbers),"
        " at most {limit} characters",
    },
    "reserved_store_code": {
        "zh": "{value} 是总部保留的编码，不能用作门店编码",
        "en": "{value} is reserved by HQ and cannot be a store code",
    },
    "invalid_code": {
        "zh": "{field}只能包含字母、数字、- 和 _，最长 {limit} 个字符",
        "en": "{field} may hold only letters, digits, - and _, at most {limit} characters",
    },
    # Returns (sync_protocol.return_policy): the sentence a clerk reads out for each decision.
    # {when} is one of the two return_when_* texts; {hint} is "" or one of the return_hint_* texts.
    "return_when_purchase_day": {"zh": "购买当天", "en": "The day of purchase"},
    "return_when_day": {"zh": "购买后第 {day} 天", "en": "Day {day} after purchase"},
    "return_within_no_reason_window": {
        "zh": "{when}，在 {no_reason_days} 天无理由{offered_label}期内，可以办理{kind_label}。",
        "en": "{when}, within the {no_reason_days}-day no-reason window: {kind_label} can be made.",
    },
    "return_within_exchange_window": {
        "zh": "{when}，在 {exchange_days} 天换货期内，可以办理换货。",
        "en": "{when}, within the {exchange_days}-day exchange window: an exchange can be made.",
    },
    "return_quality_within_window": {
        "zh": "{when}，商品有质量问题，在 {quality_days} 天质量问题{offered_label}期内，可以免费办理{kind_label}。",
        "en": "{when}, a quality problem within the {quality_days}-day quality window:"
        " {kind_label} can be made free of charge.",
    },
    "return_unknown_reason": {
        "zh": "未知的退换原因「{reason}」，请从以下原因中选择：{reasons}。",
        "en": "Unknown return reason '{reason}'; choose one of: {reasons}.",
    },
    "return_returned_before_purchase": {
        "zh": "退换日期早于购买日期，请核对购物小票上的购买时间。",
        "en": "The return is dated before the purchase; check the time of purchase on the receipt.",
    },
    "return_quality_window_passed": {
        "zh": "已超过 {quality_days} 天质量问题{offered_label}期（今天是购买后第 {day} 天），"
        "不能办理{kind_label}{hint}。",
        "en": "It is past the {quality_days}-day quality window (today is day {day} after purchase),"
        " so {kind_label} cannot be made{hint}.",
    },
    "return_excluded_category": {
        "zh": "该类商品不参加无理由退换，没有质量问题不能{kind_label}{hint}。",
        "en": "This category is not taken back without a reason, so without a quality problem"
        " {kind_label} cannot be made{hint}.",
    },
    "return_worn_goods": {
        "zh": "商品已穿着，不能无理由{kind_label}{hint}。",
        "en": "The goods have been worn, so {kind_label} without a reason cannot be made{hint}.",
    },
    "return_no_reason_window_passed": {
        "zh": "已超过 {no_reason_days} 天无理由{offered_label}期（今天是购买后第 {day} 天），"
        "不能无理由{kind_label}{hint}。",
        "en": "It is past the {no_reason_days}-day no-reason window (today is day {day} after purchase),"
        " so {kind_label} without a reason cannot be made{hint}.",
    },
    "return_exchange_window_passed": {
        "zh": "已超过 {exchange_days} 天换货期（今天是购买后第 {day} 天），不能无理由换货{hint}。",
        "en": "It is past the {exchange_days}-day exchange window (today is day {day} after purchase),"
        " so an exchange without a reason cannot be made{hint}.",
    },
    "return_refund_not_offered": {"zh": "本店不提供退货{hint}。", "en": "We do not offer refunds{hint}."},
    "return_exchange_not_offered": {"zh": "本店不提供换货{hint}。", "en": "We do not offer exchanges{hint}."},
    "return_hint_refund": {"zh": "；可以改为办理退货", "en": "; a refund can be made instead"},
    "return_hint_exchange": {"zh": "；可以改为办理换货", "en": "; an exchange can be made instead"},
    "return_hint_quality": {
        "zh": "；如有质量问题，{quality_days} 天内可免费{offered_label}",
        "en": "; with a quality problem it can be {offered_label} free of charge within {quality_days} days",
    },
    # Errors in a return policy HQ is given.
    "return_window_order": {
        "zh": "{field}应在 {minimum} 到 {maximum} 天之间（无理由退换天数 ≤ 换货天数 ≤ 质量问题退换天数）",
        "en": "{field} must be from {minimum} to {maximum} days (no-reason days ≤ exchange days ≤ quality days)",
    },
    "return_nothing_offered": {
        "zh": "退货和换货不能都关闭",
        "en": "refunds and exchanges cannot both be turned off",
    },
    # Orders (hq_server.orders): store sales and online orders at HQ.
    "invalid_order_number": {
        "zh": "订单号只能包含字母、数字、_、. 和 -，须以字母或数字开头，最长 64 个字符",
        "en": "an order number may hold only letters, digits, '_', '.' and '-', begin with a letter or digit,"
        " and have at most 64 characters",
    },
    "invalid_phone": {"zh": "{field}不是有效的电话号码", "en": "{field} is not a phone number"},
    "invalid_channel": {
        "zh": "渠道 {value} 无效，应为以下之一：{choices}",
        "en": "channel {value} is not valid; it must be one of: {choices}",
    },
    "invalid_paid_at": {
        "zh": "付款时间应为带时区的 ISO 8601 时间（如 2025-01-31T18:00:00+08:00）或毫秒时间戳，且不早于 2000 年",
        "en": "the paid time must be an ISO 8601 time with an offset (such as 2025-01-31T18:00:00+08:00)"
        " or ms since the epoch, not before 2000",
    },
    "paid_at_in_future": {
        "zh": "付款时间 {value} 晚于当前时间",
        "en": "the paid time {value} is in the future",
    },
    "invalid_order_qty": {
        "zh": "数量必须是 1 到 {limit} 之间的整数",
        "en": "the quantity must be a whole number from 1 to {limit}",
    },
    "invalid_unit_price": {
        "zh": "单价必须是 0 到 {limit} 元之间的金额，最多两位小数",
        "en": "the unit price must be an amount from 0 to {limit} yuan with at most 2 decimals",
    },
    "invalid_amount": {
        "zh": "{field}必须是不小于 0 的金额（元），最多两位小数",
        "en": "{field} must be an amount of at least 0 (yuan) with at most 2 decimals",
    },
    "too_many_order_lines": {
        "zh": "一个订单最多 {limit} 行明细",
        "en": "an order has at most {limit} lines",
    },
    "order_total_mismatch": {
        "zh": "订单合计 {total} 元与明细金额之和 {sum} 元不符",
        "en": "the order total {total} does not equal the sum of its lines, {sum}",
    },
    "order_conflict": {
        "zh": "订单 {number} 已存在，且内容与本次提交的不同",
        "en": "order {number} already exists with other content",
    },
    "order_not_found": {"zh": "找不到订单 {value}", "en": "no order {value}"},
    "order_lookup_key": {
        "zh": "请按电话号码（phone）或订单号（number）查询，二者只填一项",
        "en": "look orders up by phone or by number: give exactly one of them",
    },
    # Returns taken in at a store and decided at HQ (sync_protocol.returns).
    "unknown_order": {"zh": "总部找不到订单 {value}", "en": "HQ does not know order {value}"},
    "duplicate_line": {"zh": "同一订单行选了两次", "en": "the same order line is picked twice"},
    "unknown_order_line": {"zh": "订单中没有第 {value} 行", "en": "the order has no line {value}"},
    "exchange_items_required": {
        "zh": "换货须填写换出的商品",
        "en": "an exchange needs the items handed out",
    },
    "exchange_items_not_allowed": {
        "zh": "只有换货才能换出商品",
        "en": "only an exchange hands out items",
    },
    "invalid_photo": {"zh": "{field}为空或过长", "en": "{field} is blank or too long"},
    "photos_required": {
        "zh": "质量问题退换须拍照上传（至少 1 张）",
        "en": "a quality return needs at least one photo",
    },
    "over_return": {
        "zh": "订单 {order} 第 {line_no} 行（{sku}）共购买 {bought} 件，已退 {returned} 件{where}，"
        "最多还可退 {left} 件，本次退 {asked} 件超出可退数量",
        "en": "order {order} line {line_no} ({sku}): {bought} bought, {returned} already returned{where};"
        " at most {left} can still be returned, not {asked}",
    },
    "over_return_where": {"zh": "（{date} 在{store}，退货单 {number}）", "en": " ({date} at {store}, return {number})"},
    "return_not_allowed": {
        "zh": "第 {line_no} 行 {sku}：{explanation}",
        "en": "line {line_no} {sku}: {explanation}",
    },
    "return_not_found": {"zh": "找不到退货单 {value}", "en": "no return {value}"},
    # Order import (CSV): {detail_zh} / {detail_en} is the rule the cell breaks, already rendered.
    "csv_order_value": {
        "zh": "第 {line} 行 {column} 列：{detail_zh}",
        "en": "line {line}, column {column}: {detail_en}",
    },
    "csv_order_mismatch": {
        "zh": "{field}与本订单第 {first_line} 行的不同（同一订单号的各行须一致，或留空）",
        "en": "{field} differs from line {first_line} of the same order (repeat it or leave it empty)",
    },
    # The return policy in a sentence or two (sync_protocol.return_policy.summary).
    "policy_summary_windows": {
        "zh": "购买后 {no_reason_days} 天内，{goods}可无理由{offered_label}；"
        "有质量问题的，{quality_days} 天内可免费{offered_label}。",
        "en": "{goods} can be {offered_label} without a reason within {no_reason_days} days of purchase,"
        " and free of charge within {quality_days} days with a quality problem.",
    },
    "policy_summary_exchange": {
        "zh": "换货可延长至购买后 {exchange_days} 天。",
        "en": "Exchanges are possible up to {exchange_days} days after purchase.",
    },
    "policy_summary_excluded": {
        "zh": "以下品类只在有质量问题时退换：{categories}。",
        "en": "These categories are taken back only with a quality problem: {categories}.",
    },
    # Accounts (hq_server.accounts, hq_server.auth): sign-in, sessions, users.
    "bad_credentials": {"zh": "用户名或密码错误", "en": "wrong username or password"},
    "account_locked": {
        "zh": "登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试",
        "en": "too many failed sign-ins: the account is locked, try again in {minutes} min",
    },
    "wrong_role": {
        "zh": "门店账号请在门店终端登录，不能登录总部",
        "en": "store accounts sign in at their store, not at HQ",
    },
    "not_signed_in": {"zh": "请先登录", "en": "please sign in"},
    "session_expired": {"zh": "登录已过期，请重新登录", "en": "your session has ended; please sign in again"},
    "csrf_failed": {
        "zh": "页面已过期或请求来源无效，请刷新页面后重试",
        "en": "the page has expired or the request did not come from StoreDesk; reload the page and try again",
    },
    "admin_only": {"zh": "只有系统管理员可以执行此操作", "en": "only an administrator may do this"},
    "out_of_scope": {"zh": "该内容不在您的查看范围内", "en": "this is outside what you may see"},
    "read_only": {"zh": "您的角色只能查看，不能执行此操作", "en": "your role may look but not do this"},
    "not_your_department": {
        "zh": "您不属于部门 {department}，不能以其名义操作",
        "en": "you are not in department {department} and cannot act for it",
    },
    "json_required": {"zh": "请求内容须为 JSON", "en": "the request body must be JSON"},
    "password_too_short": {"zh": "{field}至少需要 {min} 个字符", "en": "{field} needs at least {min} characters"},
    "password_all_digits": {"zh": "{field}不能全部是数字", "en": "{field} cannot be digits only"},
    "password_is_username": {"zh": "{field}不能与用户名相同", "en": "{field} cannot be the username"},
    "current_password_wrong": {"zh": "当前密码不正确", "en": "the current password is wrong"},
    "invalid_pin": {"zh": "{field}应为 {min} 到 {max} 位数字", "en": "{field} must be {min} to {max} digits"},
    "pin_not_for_role": {"zh": "只有门店账号可以设置 PIN", "en": "only store accounts have a PIN"},
    "invalid_username": {
        "zh": "{field}应为 3 到 40 个字符，只能包含字母、数字和 . _ - @，并以字母或数字开头",
        "en": "{field} must be 3 to 40 characters of letters, digits and . _ - @, starting with a letter or digit",
    },
    "invalid_role": {"zh": "未知的角色 {value}（可选：{roles}）", "en": "unknown role {value} (one of: {roles})"},
    "username_taken": {"zh": "用户名 {value} 已被使用", "en": "the username {value} is taken"},
    "user_not_found": {"zh": "找不到用户 {value}", "en": "no user {value}"},
    "unknown_region": {"zh": "未知的区域 {value}", "en": "unknown region {value}"},
    "departments_required": {"zh": "该角色至少需要一个部门", "en": "this role needs at least one department"},
    "regions_required": {"zh": "区域经理至少需要一个区域", "en": "a regional manager needs at least one region"},
    "store_required": {"zh": "门店账号须指定一家门店", "en": "a store account needs its store"},
    "scope_not_for_role": {"zh": "该角色不设{field}", "en": "this role takes no {field}"},
    "last_admin": {
        "zh": "不能停用最后一位系统管理员或更改其角色",
        "en": "the last administrator cannot be deactivated or given another role",
    },
    # Reports (hq_server.reports_api).
    "invalid_range": {"zh": "{field}应晚于开始时间", "en": "{field} must be later than the start"},
    "unknown_report": {"zh": "没有报表 {value}", "en": "no report {value}"},
    "reports_not_allowed": {"zh": "您的角色不能查看报表", "en": "your role cannot see reports"},
    "report_out_of_scope": {"zh": "该{field}不在您的查看范围内", "en": "this {field} is outside what you may see"},
}

#: People-facing names of fields, for the ``{field}`` of the texts above: field -> (zh, en).
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "score": ("评分", "score"),
    "url": ("网址", "URL"),
    "events": ("事件", "events"),
    "secret": ("签名密钥", "secret"),
    "comment": ("意见", "comment"),
    "type": ("工单类型", "type"),
    "title": ("标题", "title"),
    "description": ("描述", "description"),
    "category": ("分类", "category"),
    "product_code": ("商品编码", "product code"),
    "customer_phone": ("顾客电话", "customer phone"),
    "customer_name": ("顾客姓名", "customer name"),
    "status": ("状态", "status"),
    "department": ("部门", "department"),
    "assignee": ("处理人", "assignee"),
    "priority": ("优先级", "priority"),
    "first_response_due": ("首次响应期限", "first response due"),
    "resolution_due": ("解决期限", "resolution due"),
    "number": ("工单号", "number"),
    "body": ("内容", "body"),
    "note": ("备注", "note"),
    "actor": ("操作人", "actor"),
    "author": ("作者", "author"),
    "store": ("门店", "store"),
    "changes": ("修改内容", "changes"),
    "code": ("编码", "code"),
    "name": ("名称", "name"),
    "region": ("区域", "region"),
    "name_zh": ("中文名称", "Chinese name"),
    "name_en": ("英文名称", "English name"),
    "colour": ("颜色", "colour"),
    "size": ("尺码", "size"),
    "price": ("价格", "price"),
    "sku_code": ("SKU 编码", "SKU code"),
    "barcode": ("条码", "barcode"),
    "min_stock": ("补货阈值", "replenishment threshold"),
    "threshold": ("补货阈值", "replenishment threshold"),
    "qty": ("数量", "quantity"),
    "sku": ("商品 SKU", "SKU"),
    "reason": ("原因", "reason"),
    "source_store": ("调出门店", "source store"),
    "source_store_id": ("调出门店", "source store"),
    "action": ("操作", "action"),
    "product": ("商品", "product"),
    "moves": ("库存变动", "stock movements"),
    "role": ("类别", "role"),
    "near": ("参照门店", "reference store"),
    "lat": ("纬度", "latitude"),
    "lon": ("经度", "longitude"),
    "address": ("地址", "address"),
    "contact": ("联系人", "contact"),
    "phone": ("电话", "phone"),
    "return_policy": ("退换货政策", "return policy"),
    "no_reason_days": ("无理由退换天数", "no-reason days"),
    "quality_days": ("质量问题退换天数", "quality days"),
    "exchange_days": ("换货天数", "exchange days"),
    "excluded_categories": ("不参加无理由退换的品类", "excluded categories"),
    "require_unworn": ("仅限未穿着商品", "unworn goods only"),
    "allow_refund": ("允许退货", "refunds offered"),
    "allow_exchange": ("允许换货", "exchanges offered"),
    "tz": ("时区", "time zone"),
    "order_no": ("订单号", "order number"),
    "channel": ("渠道", "channel"),
    "paid_at": ("付款时间", "paid time"),
    "unit_price": ("单价", "unit price"),
    "total": ("合计金额", "total"),
    "lines": ("订单明细", "order lines"),
    "kind": ("退换类型", "kind"),
    "method": ("退款方式", "refund method"),
    "photos": ("照片", "photos"),
    "exchange": ("换出商品", "items handed out"),
    "line_no": ("订单行", "order line"),
    "unworn": ("未穿着", "unworn"),
    "order": ("订单", "order"),
    # Accounts.
    "username": ("用户名", "username"),
    "display_name": ("显示名称", "display name"),
    "password": ("密码", "password"),
    "current_password": ("当前密码", "current password"),
    "pin": ("PIN 码", "PIN"),
    "departments": ("部门", "departments"),
    "regions": ("区域", "regions"),
    "active": ("启用状态", "active"),
    # Reports.
    "from": ("开始时间", "from"),
    "to": ("结束时间", "to"),
    "format": ("格式", "format"),
    "table": ("表格", "table"),
}


def field_label(field: str, lang: str = DEFAULT_LANG) -> str:
    """The people-facing name of ``field`` in ``lang``; unknown fields keep their name."""
    labels = FIELD_LABELS.get(field)
    if labels is None:
        return field
    return labels[1] if lang == "en" else labels[0]


def text(code: str, lang: str = DEFAULT_LANG, **params: object) -> str:
    """Render the text for ``code`` in ``lang`` (``zh`` or ``en``)."""
    entry = TEXTS.get(code)
    if entry is None:
        return code
    template = entry.get(lang) or entry[DEFAULT_LANG]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
