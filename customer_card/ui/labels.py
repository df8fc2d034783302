"""Human labels for the data's vocabularies, translated in the "Labels" context."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from customer_card.domain.model import OPEN_STATUSES


def _t(text: str) -> str:
    return QCoreApplication.translate("Labels", text)


def channel_label(channel: str) -> str:
    labels = {
        "phone": _t("Phone"),
        "call": _t("Phone"),
        "email": _t("E-mail"),
        "sms": _t("SMS"),
        "chat": _t("Chat"),
        "store": _t("Store"),
        "eshop": _t("E-shop"),
        "web": _t("Web"),
        "support": _t("Support"),
        "social": _t("Social"),
        "loyalty": _t("Loyalty"),
        "note": _t("Note"),
    }
    return labels.get(channel.lower(), channel.replace("_", " ").capitalize())


def source_label(source: str) -> str:
    labels = {
        "crm": _t("CRM"),
        "eshop": _t("E-shop"),
        "loyalty": _t("Loyalty"),
        "support": _t("Support"),
        "social": _t("Social"),
        "store": _t("Store"),
        "local": _t("Customer Card"),
    }
    return labels.get(source.lower(), source)


def direction_label(direction: str | None) -> str:
    labels = {"inbound": _t("inbound"), "outbound": _t("outbound"), "in": _t("inbound")}
    if not direction:
        return ""
    return labels.get(direction.lower(), direction)


def purpose_label(purpose: str) -> str:
    labels = {
        "contact": _t("Contact"),
        "contact_email": _t("Contact by e-mail"),
        "contact_sms": _t("Contact by SMS"),
        "contact_phone": _t("Contact by phone"),
        "contact_post": _t("Contact by post"),
        "marketing": _t("Marketing"),
        "marketing_email": _t("Marketing by e-mail"),
        "marketing_sms": _t("Marketing by SMS"),
        "profiling": _t("Profiling"),
        "newsletter": _t("Newsletter"),
        "partners": _t("Partners"),
    }
    return labels.get(purpose.lower(), purpose.replace("_", " ").replace(".", " · ").capitalize())


def consent_label(status: str) -> str:
    labels = {
        "granted": _t("Granted"),
        "withdrawn": _t("Withdrawn"),
        "denied": _t("Denied"),
        "unknown": _t("Unknown"),
    }
    return labels.get(status.lower(), status)


def identifier_label(kind: str) -> str:
    labels = {
        "loyalty_card": _t("Loyalty card"),
        "email": _t("E-mail"),
        "phone": _t("Phone"),
        "social": _t("Social"),
        "crm_id": _t("CRM id"),
    }
    return labels.get(kind.lower(), kind.replace("_", " ").capitalize())


def kind_label(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def is_open_status(status: str | None) -> bool:
    return (status or "").lower() in OPEN_STATUSES


def call_reason_label(code: str) -> str:
    labels = {
        "order": _t("Order"),
        "delivery": _t("Delivery"),
        "return": _t("Return / refund"),
        "product": _t("Product question"),
        "loyalty": _t("Loyalty programme"),
        "account": _t("Account / personal data"),
        "complaint": _t("Complaint"),
        "other": _t("Other"),
    }
    return labels.get(code, code.replace("_", " ").capitalize())


def call_result_label(code: str) -> str:
    labels = {
        "resolved": _t("Resolved"),
        "follow_up": _t("Follow-up needed"),
        "escalated": _t("Escalated"),
        "transferred": _t("Transferred"),
        "no_answer": _t("No answer / voicemail"),
    }
    return labels.get(code, code.replace("_", " ").capitalize())


def relation_label(relation: str) -> str:
    labels = {
        "household": _t("Same household"),
        "possible_duplicate": _t("Possible duplicate"),
        "same_name": _t("Maybe the same person"),
    }
    return labels.get(relation, relation.replace("_", " ").capitalize())
