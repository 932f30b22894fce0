"""UI texts of the tickets screens: key -> (Simplified Chinese, English); merged into
:data:`store_node.ui.texts.UI_TEXTS`."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    # The new-ticket form.
    "tk_new_title": ("新建工单", "New ticket"),
    "tk_pick_type": ("请先选择工单类型：", "Choose the type of ticket first:"),
    "tk_type": ("工单类型", "Ticket type"),
    "tk_required": ("（必填）", "(required)"),
    "tk_required_hint": ("带 * 的为必填项。", "Fields marked * are required."),
    "tk_offline_hint": (
        "离线时也可以提交，工单先保存在本机，联网后自动上传总部。",
        "You can file it offline too: it is kept on this PC and goes to HQ when the line is back.",
    ),
    "tk_title": ("标题", "Title"),
    "tk_description": ("描述", "Description"),
    "tk_category": ("分类", "Category"),
    "tk_product_code": ("商品编码", "Product code"),
    "tk_product_search": ("输入编码或名称搜索，↑↓ 选择，回车确认", "Type a code or name; ↑↓ to pick, Enter to take"),
    "tk_customer": ("顾客", "Customer"),
    "tk_customer_phone": ("顾客电话", "Customer phone"),
    "tk_customer_name": ("顾客姓名", "Customer name"),
    "tk_customer_earlier": ("该顾客在本店的工单：", "This customer's tickets at this store:"),
    "tk_customer_none": ("该顾客在本店还没有工单。", "This customer has no tickets at this store yet."),
    "tk_similar_heading": (
        "本店有类似的处理中工单，请确认不是同一问题：",
        "Similar open tickets at this store: check it is not the same problem:",
    ),
    "tk_choose": ("请选择", "Choose"),
    "tk_photo": ("照片", "Photo"),
    "tk_photo_hint": (
        "可选多张图片（JPEG、PNG、WebP、GIF），每张不超过 {mb} MB，最多 {limit} 张。",
        "Choose one or more pictures (JPEG, PNG, WebP, GIF), up to {mb} MB each, {limit} at most.",
    ),
    "tk_photos_kept": ("已上传 {count} 张，无需重新选择。", "{count} already uploaded: no need to choose them again."),
    "tk_photo_not_image": (
        "「{name}」不是图片，请选择 JPEG、PNG、WebP 或 GIF 图片。",
        "“{name}” is not a picture: choose a JPEG, PNG, WebP or GIF image.",
    ),
    "tk_photo_too_large": (
        "「{name}」超过 {mb} MB，请选择较小的图片。",
        "“{name}” is larger than {mb} MB: choose a smaller one.",
    ),
    "tk_photo_too_many": ("最多可上传 {limit} 张照片。", "At most {limit} photos can be attached."),
    "tk_submit": ("提交工单", "File the ticket"),
    # The ticket page.
    "tk_created": (
        "工单 {number} 已保存在本机，联网时自动上传总部。",
        "Ticket {number} is saved on this PC; it goes to HQ whenever the line is up.",
    ),
    "tk_created_at": ("创建时间", "Filed"),
    "tk_sync_refused": ("总部拒绝了本工单的以下操作：", "HQ refused these changes to this ticket:"),
    "tk_sla_title": ("处理时限", "Service level"),
    "tk_sla_first_response": ("首次响应", "First response"),
    "tk_sla_resolution": ("解决", "Resolution"),
    "tk_sla_due": ("截止 {when}", "due {when}"),
    "tk_sla_state_due": ("未超时", "On time"),
    "tk_sla_state_overdue": ("已超时", "Overdue"),
    "tk_sla_state_paused": ("已暂停", "Paused"),
    "tk_sla_state_done": ("已完成", "Done"),
    "tk_sla_none": ("总部分派后将显示处理时限。", "Due times show once HQ has routed the ticket."),
    "tk_sla_paused_note": (
        "等待期间处理时限暂停计时。",
        "The clock is paused while the ticket waits.",
    ),
    "tk_timeline": ("处理记录", "Timeline"),
    "tk_event_created": ("工单创建", "Ticket filed"),
    "tk_event_status": ("状态：{old} → {new}", "Status: {old} → {new}"),
    "tk_from_hq": ("总部", "HQ"),
    "tk_from_store": ("本店", "This store"),
    "tk_comment_title": ("添加评论", "Add a comment"),
    "tk_comment_body": ("评论内容", "Comment"),
    "tk_comment_submit": ("发表评论", "Post the comment"),
    "tk_status_title": ("更改状态", "Change the status"),
    "tk_status_note": ("备注（可选）", "Note (optional)"),
    "tk_status_to": ("改为「{label}」", "Set to “{label}”"),
    "tk_status_none": ("工单已关闭，不能再更改状态。", "The ticket is closed: its status cannot change any more."),
    "tk_status_note_moved": (
        "您写的备注已放进上面的评论框，可作为评论发表。",
        "Your note is in the comment box above: post it as a comment.",
    ),
    "tk_earlier_title": ("该顾客在本店的其他工单", "This customer's other tickets at this store"),
    "tk_not_found": ("找不到工单 {number}", "No ticket {number}"),
    "tk_not_found_hint": (
        "请核对工单号；其他门店的工单不在本机。",
        "Check the number; other stores' tickets are not on this PC.",
    ),
}
