"""Edits an author might make to a policy, each labelled by what it does to people's data.

A *widening* edit lets us collect more, store it more readably, keep it longer, share it with more recipients
or for more purposes, or keep prompt content in more cases. A *neutral* edit does none of that: wording,
renaming, reordering, shorter periods, fewer recipients. The labels come from what each edit means, not from
the diff, so the property in test_diff_materiality.py checks the diff against an independent oracle.

Each edit works on the policy as a plain YAML mapping and returns False when it does not apply to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from aether_policy.durations import Duration
from aether_policy.vocabulary import LEGAL_BASES, RIGHTS, TRANSFER_MECHANISMS

Doc = dict[str, Any]
Edit = Callable[[Doc, st.DrawFn], bool]

ANCHORS = ("collection", "account_deletion")  # periods of request content are bound by the storage rules
PURPOSES = ("service_provision", "business_operations", "communication", "improvement_analytics", "legal_compliance")


def _days(text: str) -> int:
    return Duration.parse(text).seconds // 86400


def _rules_covering(doc: Doc, category: str) -> list[str]:
    return [name for name, rule in doc["retention"].items() if category in rule["categories"]]


def _whole_categories(doc: Doc) -> list[tuple[str, str]]:
    """(category, rule) for categories covered whole by exactly one rule counted from collection or deletion."""
    found = []
    for cname in doc["categories"]:
        rules = _rules_covering(doc, cname)
        fields = [f"{cname}.{f}" for f in doc["categories"][cname]["fields"]]
        field_rules = [n for n, r in doc["retention"].items() if any(f in r["categories"] for f in fields)]
        if len(rules) == 1 and not field_rules and doc["retention"][rules[0]]["after"] in ANCHORS:
            found.append((cname, rules[0]))
    return found


def _received(doc: Doc, recipient: Doc) -> set[str]:
    fields: set[str] = set()
    for ref in recipient["receives"]:
        cname, _, fname = ref.partition(".")
        fields.update([ref] if fname else (f"{cname}.{f}" for f in doc["categories"][cname]["fields"]))
    return fields


def _flagged(doc: Doc) -> Doc | None:
    for category in doc["categories"].values():
        for exception in (category.get("storage") or {}).get("exceptions", []):
            if exception["when"] == "flagged":
                return exception  # type: ignore[no-any-return]
    return None


def stricter(doc: Doc) -> Doc:
    """The shipped policy made stricter where it is already as loose as the schema allows, so every widening
    edit has something to widen: an older minimum age, two notification channels, explicit acceptance, one
    more category encrypted at rest, no staff review, no keeping of marked accounts' prompts, and the legal
    vocabulary at its strictest (consent for every purpose, processors in one country under standard contractual
    clauses, every right answered within a month, opt-in cookies)."""
    for purpose in doc["purposes"].values():
        purpose["legal_basis"] = "consent"
    for recipient in doc["recipients"].values():
        recipient.update(role="processor", countries=["US"], transfer="standard_contractual_clauses")
    for cookie in doc["cookies"].values():
        cookie["consent"] = "opt_in"
    doc["rights"] = {
        "available": list(RIGHTS),
        "how_to_exercise": "Write to us.",
        "response_time": "1 month",
    }
    doc["children"]["minimum_age"] = 16
    doc["changes"]["notify_by"] = ["website", "email"]
    doc["changes"]["acceptance"] = "explicit"
    doc["security"]["encryption_at_rest"] = [*doc["security"]["encryption_at_rest"], "account"]
    for category in doc["categories"].values():
        storage = category.get("storage")
        if storage:
            storage["exceptions"] = [e for e in storage["exceptions"] if e["when"] != "account_marked"]
            for exception in storage["exceptions"]:
                exception["reviewed"] = False
    return doc


def _content_storage(doc: Doc) -> Doc:
    return next(c["storage"] for c in doc["categories"].values() if c.get("storage"))  # type: ignore[no-any-return]


# --- widening edits ---------------------------------------------------------------------------------------


def keep_a_rule_longer(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["retention"])))
    rule = doc["retention"][name]
    rule["keep_for"] = f"{_days(rule['keep_for']) + draw(st.integers(1, 2000))} days"
    return True


def _move_a_category(doc: Doc, draw: st.DrawFn, wanted: Callable[[int, int], bool]) -> bool:
    """Move a category one rule covers whole into another rule counted from the same event whose period
    (in days) is `wanted(new, old)`; a rule left covering nothing goes."""
    moves = [
        (cname, old, new)
        for cname, old in _whole_categories(doc)
        for new, rule in doc["retention"].items()
        if rule["after"] == doc["retention"][old]["after"]
        and new != old
        and wanted(_days(rule["keep_for"]), _days(doc["retention"][old]["keep_for"]))
    ]
    if not moves:
        return False
    cname, old, new = draw(st.sampled_from(moves))
    doc["retention"][old]["categories"].remove(cname)
    if not doc["retention"][old]["categories"]:
        del doc["retention"][old]
    doc["retention"][new]["categories"].append(cname)
    return True


def move_a_category_into_a_longer_rule(doc: Doc, draw: st.DrawFn) -> bool:
    return _move_a_category(doc, draw, lambda new, old: new > old)


def add_a_rule_keeping_a_category_longer(doc: Doc, draw: st.DrawFn) -> bool:
    """A category moved out of its rule into a new, longer one (one rule per field: a second rule covering
    it is refused by validation, so the category leaves its old rule; a rule left covering nothing goes)."""
    cname, covering = draw(st.sampled_from(_whole_categories(doc)))
    rule = doc["retention"][covering]
    extra = {
        "title": "Extra",
        "categories": [cname],
        "keep_for": f"{_days(rule['keep_for']) + draw(st.integers(1, 900))} days",
        "after": rule["after"],
    }
    rule["categories"].remove(cname)
    if not rule["categories"]:
        del doc["retention"][covering]
    name = f"extra_{len(doc['retention'])}"
    if draw(st.booleans()):
        doc["retention"] = {name: extra, **doc["retention"]}
    else:
        doc["retention"][name] = extra
    return True


def store_a_field_more_readably(doc: Doc, draw: st.DrawFn) -> bool:
    choices = [
        (c, f)
        for c, category in doc["categories"].items()
        for f, field in category["fields"].items()
        if field.get("stored_as", "plain") != "plain"
    ]
    cname, fname = draw(st.sampled_from(choices))
    doc["categories"][cname]["fields"][fname] = {"title": doc["categories"][cname]["fields"][fname]["title"]}
    return True


def keep_more_parts_of_a_derived_input(doc: Doc, draw: st.DrawFn) -> bool:
    field = doc["categories"]["device"]["fields"]["browser"]
    part = draw(st.sampled_from(["os", "os_version", "device_model", "minor_version"]))
    field["keep"] = [*field.get("keep", []), part]
    return True


def share_a_field_with_another_recipient(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["recipients"])))
    recipient = doc["recipients"][name]
    received = _received(doc, recipient)
    missing = sorted(f"{c}.{f}" for c in doc["categories"] for f in doc["categories"][c]["fields"])
    missing = [f for f in missing if f not in received]
    if not missing:
        return False
    recipient["receives"] = [*recipient["receives"], draw(st.sampled_from(missing))]
    return True


def share_for_another_purpose(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["recipients"])))
    recipient = doc["recipients"][name]
    others = [p for p in PURPOSES if p not in recipient["purposes"]]
    recipient["purposes"] = [*recipient["purposes"], draw(st.sampled_from(others))]
    return True


def share_always_not_only_when_required_by_law(doc: Doc, draw: st.DrawFn) -> bool:
    legal = [n for n, r in doc["recipients"].items() if r.get("when") == "required_by_law"]
    if not legal:
        return False
    doc["recipients"][draw(st.sampled_from(legal))]["when"] = "always"
    return True


def use_a_category_for_another_purpose(doc: Doc, draw: st.DrawFn) -> bool:
    cname = draw(st.sampled_from(sorted(doc["categories"])))
    category = doc["categories"][cname]
    others = [p for p in PURPOSES if p not in category["purposes"]]
    if not others:
        return False
    category["purposes"] = [*category["purposes"], draw(st.sampled_from(others))]
    return True


def add_an_abuse_pattern(doc: Doc, draw: st.DrawFn) -> bool:
    flagged = _flagged(doc)
    assert flagged is not None
    pattern = draw(st.sampled_from([".", "a", r"\w+", "(?s).*", "password", "[0-9]"]))
    if pattern in flagged["patterns"].values():
        return False
    flagged["patterns"][f"extra_{len(flagged['patterns'])}"] = pattern
    return True


def edit_an_abuse_pattern(doc: Doc, draw: st.DrawFn) -> bool:
    flagged = _flagged(doc)
    assert flagged is not None
    if not flagged["patterns"]:
        return False
    name = draw(st.sampled_from(sorted(flagged["patterns"])))
    flagged["patterns"][name] = flagged["patterns"][name] + draw(st.sampled_from(["|.", "|the", "|x+", "|(?i:abc)"]))
    return True


def keep_prompts_for_another_purpose(doc: Doc, draw: st.DrawFn) -> bool:
    flagged = _flagged(doc)
    assert flagged is not None
    flagged["purpose"] = draw(st.sampled_from([p for p in PURPOSES if p != flagged["purpose"]]))
    return True


def reclassify_a_cookie(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["cookies"])))
    cookie = doc["cookies"][name]
    cookie["kind"] = draw(st.sampled_from([k for k in doc["categories"]["cookies"]["fields"] if k != cookie["kind"]]))
    return True


def keep_a_cookie_longer(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["cookies"])))
    cookie = doc["cookies"][name]
    current = _days(cookie["max_age"]) if cookie.get("max_age") else 0
    cookie["max_age"] = f"{current + draw(st.integers(1, 900))} days"
    return True


def add_a_recipient(doc: Doc, draw: st.DrawFn) -> bool:
    cname = draw(st.sampled_from(sorted(doc["categories"])))
    doc["recipients"]["data_broker"] = {
        "title": "Data Broker",
        "kind": "service_provider",
        "receives": [cname],
        "purposes": [draw(st.sampled_from(PURPOSES))],
    }
    return True


def collect_a_new_field(doc: Doc, draw: st.DrawFn) -> bool:
    cname = draw(st.sampled_from([c for c, _ in _whole_categories(doc)]))
    doc["categories"][cname]["fields"]["extra_field"] = {"title": "Something new"}
    return True


def send_prompts_to_another_host(doc: Doc, draw: st.DrawFn) -> bool:
    providers = sorted(n for n, r in doc["recipients"].items() if r.get("provider"))
    provider = doc["recipients"][draw(st.sampled_from(providers))]["provider"]
    provider["hosts"] = [*provider["hosts"], draw(st.sampled_from(["eu.example.net", "*.example.org"]))]
    return True


def lower_the_minimum_age(doc: Doc, draw: st.DrawFn) -> bool:
    age = doc["children"]["minimum_age"]
    if age <= 13:
        return False
    doc["children"]["minimum_age"] = draw(st.integers(13, age - 1))
    return True


def stop_announcing_on_a_channel(doc: Doc, draw: st.DrawFn) -> bool:
    channels = doc["changes"]["notify_by"]
    if len(channels) < 2:
        return False
    dropped = draw(st.sampled_from(channels))
    doc["changes"]["notify_by"] = [c for c in channels if c != dropped]
    return True


def accept_changes_by_continued_use(doc: Doc, draw: st.DrawFn) -> bool:
    if doc["changes"].get("acceptance") != "explicit":
        return False
    doc["changes"]["acceptance"] = "continued_use"
    return True


def stop_encrypting_a_category(doc: Doc, draw: st.DrawFn) -> bool:
    encrypted = doc["security"]["encryption_at_rest"]
    if not encrypted:
        return False
    dropped = draw(st.sampled_from(encrypted))
    doc["security"]["encryption_at_rest"] = [c for c in encrypted if c != dropped]
    return True


def let_staff_review_kept_prompts(doc: Doc, draw: st.DrawFn) -> bool:
    unreviewed = [e for e in _content_storage(doc)["exceptions"] if e.get("reviewed") is False]
    if not unreviewed:
        return False
    draw(st.sampled_from(unreviewed))["reviewed"] = True
    return True


def keep_prompts_of_marked_accounts(doc: Doc, draw: st.DrawFn) -> bool:
    storage = _content_storage(doc)
    if any(e["when"] == "account_marked" for e in storage["exceptions"]):
        return False
    storage["exceptions"].append(
        {"when": "account_marked", "retention": storage["exceptions"][0]["retention"], "purpose": "business_operations"}
    )
    return True


def move_a_purpose_to_another_legal_basis(doc: Doc, draw: st.DrawFn) -> bool:
    purpose = doc["purposes"][draw(st.sampled_from(sorted(doc["purposes"])))]
    purpose["legal_basis"] = draw(st.sampled_from([b for b in LEGAL_BASES if b != purpose["legal_basis"]]))
    if purpose["legal_basis"] == "legitimate_interests":
        purpose["legitimate_interest"] = "running the service"
    return True


def process_data_in_another_country(doc: Doc, draw: st.DrawFn) -> bool:
    recipient = doc["recipients"][draw(st.sampled_from(sorted(doc["recipients"])))]
    recipient["countries"] = [*recipient["countries"], draw(st.sampled_from(["IN", "BR", "CN", "DE"]))]
    return True


def change_or_drop_a_transfer_safeguard(doc: Doc, draw: st.DrawFn) -> bool:
    recipient = doc["recipients"][draw(st.sampled_from(sorted(doc["recipients"])))]
    others = [m for m in TRANSFER_MECHANISMS if m != recipient["transfer"]]
    recipient["transfer"] = draw(st.sampled_from([*others, None]))
    if recipient["transfer"] is None:
        del recipient["transfer"]
    return True


def make_a_processor_a_controller(doc: Doc, draw: st.DrawFn) -> bool:
    doc["recipients"][draw(st.sampled_from(sorted(doc["recipients"])))]["role"] = "controller"
    return True


def withdraw_a_right(doc: Doc, draw: st.DrawFn) -> bool:
    rights = doc["rights"]["available"]
    rights.remove(draw(st.sampled_from(rights)))
    if not rights:
        del doc["rights"]  # `available` may not be empty: no rights stated at all
    return True


def answer_requests_slower(doc: Doc, draw: st.DrawFn) -> bool:
    doc["rights"]["response_time"] = f"{draw(st.integers(32, 400))} days"
    return True


def ask_weaker_cookie_consent(doc: Doc, draw: st.DrawFn) -> bool:
    cookie = doc["cookies"][draw(st.sampled_from(sorted(doc["cookies"])))]
    cookie["consent"] = draw(st.sampled_from(["opt_out", "not_required"]))
    return True


WIDENING: list[Edit] = [
    move_a_purpose_to_another_legal_basis,
    process_data_in_another_country,
    change_or_drop_a_transfer_safeguard,
    make_a_processor_a_controller,
    withdraw_a_right,
    answer_requests_slower,
    ask_weaker_cookie_consent,
    keep_a_rule_longer,
    move_a_category_into_a_longer_rule,
    add_a_rule_keeping_a_category_longer,
    store_a_field_more_readably,
    keep_more_parts_of_a_derived_input,
    share_a_field_with_another_recipient,
    share_for_another_purpose,
    share_always_not_only_when_required_by_law,
    use_a_category_for_another_purpose,
    add_an_abuse_pattern,
    edit_an_abuse_pattern,
    keep_prompts_for_another_purpose,
    reclassify_a_cookie,
    keep_a_cookie_longer,
    add_a_recipient,
    collect_a_new_field,
    send_prompts_to_another_host,
    lower_the_minimum_age,
    stop_announcing_on_a_channel,
    accept_changes_by_continued_use,
    stop_encrypting_a_category,
    let_staff_review_kept_prompts,
    keep_prompts_of_marked_accounts,
]


# --- neutral edits ----------------------------------------------------------------------------------------


def keep_a_rule_shorter(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["retention"])))
    rule = doc["retention"][name]
    days = _days(rule["keep_for"])
    if days <= 1:
        return False
    rule["keep_for"] = f"{draw(st.integers(1, days - 1))} days"
    return True


def move_a_category_into_a_shorter_rule(doc: Doc, draw: st.DrawFn) -> bool:
    return _move_a_category(doc, draw, lambda new, old: new <= old)


def rename_a_retention_rule(doc: Doc, draw: st.DrawFn) -> bool:
    old = draw(st.sampled_from(sorted(doc["retention"])))
    new = f"renamed_{len(doc['retention'])}_{old}"
    doc["retention"] = {new if k == old else k: v for k, v in doc["retention"].items()}
    for category in doc["categories"].values():
        for exception in (category.get("storage") or {}).get("exceptions", []):
            if exception["retention"] == old:
                exception["retention"] = new
    return True


def split_a_retention_rule(doc: Doc, draw: st.DrawFn) -> bool:
    splittable = sorted(n for n, r in doc["retention"].items() if len(r["categories"]) > 1)
    if not splittable:
        return False
    name = draw(st.sampled_from(splittable))
    rule = doc["retention"][name]
    moved = rule["categories"].pop()
    doc["retention"][f"split_{len(doc['retention'])}"] = {**rule, "categories": [moved]}
    return True


def reorder_retention_rules(doc: Doc, draw: st.DrawFn) -> bool:
    names = draw(st.permutations(sorted(doc["retention"])))
    doc["retention"] = {n: doc["retention"][n] for n in names}
    return True


def retitle_something(doc: Doc, draw: st.DrawFn) -> bool:
    family = draw(st.sampled_from(["categories", "recipients", "retention", "purposes"]))
    name = draw(st.sampled_from(sorted(doc[family])))
    doc[family][name]["title"] = doc[family][name]["title"] + draw(st.sampled_from([" (updated)", "!", " data"]))
    return True


def reword_a_section(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["sections"])))
    section = doc["sections"][name]
    section["body"] = section.get("body", "") + draw(st.sampled_from(["\n\nWe care.", " Thanks.", ""]))
    return True


def hash_a_plain_field(doc: Doc, draw: st.DrawFn) -> bool:
    choices = [
        (c, f)
        for c, category in doc["categories"].items()
        for f, field in category["fields"].items()
        if field.get("stored_as", "plain") == "plain"
    ]
    cname, fname = draw(st.sampled_from(choices))
    doc["categories"][cname]["fields"][fname]["stored_as"] = "hash"
    return True


def share_less(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["recipients"])))
    recipient = doc["recipients"][name]
    if len(recipient["receives"]) < 2:
        return False
    dropped = draw(st.sampled_from(recipient["receives"]))
    recipient["receives"] = [r for r in recipient["receives"] if r != dropped]
    return True


def list_fields_instead_of_categories(doc: Doc, draw: st.DrawFn) -> bool:
    name = draw(st.sampled_from(sorted(doc["recipients"])))
    recipient = doc["recipients"][name]
    recipient["receives"] = sorted(_received(doc, recipient))
    return True


def rename_an_abuse_pattern(doc: Doc, draw: st.DrawFn) -> bool:
    flagged = _flagged(doc)
    assert flagged is not None
    if not flagged["patterns"]:
        return False
    old = draw(st.sampled_from(sorted(flagged["patterns"])))
    flagged["patterns"] = {(f"renamed_{k}" if k == old else k): v for k, v in flagged["patterns"].items()}
    return True


def drop_an_abuse_pattern(doc: Doc, draw: st.DrawFn) -> bool:
    flagged = _flagged(doc)
    assert flagged is not None
    if len(flagged["patterns"]) < 2:
        return False
    del flagged["patterns"][draw(st.sampled_from(sorted(flagged["patterns"])))]
    return True


def drop_a_detector(doc: Doc, draw: st.DrawFn) -> bool:
    flagged = _flagged(doc)
    assert flagged is not None
    if "upstream_moderation" not in flagged["detectors"]:
        return False
    flagged["detectors"] = [d for d in flagged["detectors"] if d != "upstream_moderation"]
    return True


def announce_changes_more_widely(doc: Doc, draw: st.DrawFn) -> bool:
    extra = [c for c in ("website", "email", "dashboard") if c not in doc["changes"]["notify_by"]]
    if not extra:
        return False
    doc["changes"]["notify_by"] = [*doc["changes"]["notify_by"], draw(st.sampled_from(extra))]
    return True


def raise_the_minimum_age(doc: Doc, draw: st.DrawFn) -> bool:
    age = doc["children"]["minimum_age"]
    if age >= 21:
        return False
    doc["children"]["minimum_age"] = draw(st.integers(age + 1, 21))
    return True


def shorten_a_cookie(doc: Doc, draw: st.DrawFn) -> bool:
    persistent = sorted(n for n, c in doc["cookies"].items() if c.get("max_age"))
    if not persistent:
        return False
    cookie = doc["cookies"][draw(st.sampled_from(persistent))]
    days = _days(cookie["max_age"])
    if draw(st.booleans()) or days <= 1:
        cookie.pop("max_age")  # a session cookie
    else:
        cookie["max_age"] = f"{draw(st.integers(1, days - 1))} days"
    return True


def encrypt_another_category(doc: Doc, draw: st.DrawFn) -> bool:
    plain = sorted(c for c in doc["categories"] if c not in doc["security"]["encryption_at_rest"])
    if not plain:
        return False
    doc["security"]["encryption_at_rest"] = [*doc["security"]["encryption_at_rest"], draw(st.sampled_from(plain))]
    return True


def add_an_extra_section(doc: Doc, draw: st.DrawFn) -> bool:
    key = f"extra_{len(doc['sections'])}"
    doc["sections"][key] = {"title": "More", "body": draw(st.sampled_from(["Hello.", "*More* text."]))}
    return True


def reword_how_to_exercise_rights(doc: Doc, draw: st.DrawFn) -> bool:
    doc["rights"]["how_to_exercise"] += draw(st.sampled_from([" Thanks.", " We answer by email."]))
    return True


NEUTRAL: list[Edit] = [
    add_an_extra_section,
    reword_how_to_exercise_rights,
    keep_a_rule_shorter,
    move_a_category_into_a_shorter_rule,
    rename_a_retention_rule,
    split_a_retention_rule,
    reorder_retention_rules,
    retitle_something,
    reword_a_section,
    hash_a_plain_field,
    share_less,
    list_fields_instead_of_categories,
    rename_an_abuse_pattern,
    drop_an_abuse_pattern,
    drop_a_detector,
    announce_changes_more_widely,
    raise_the_minimum_age,
    shorten_a_cookie,
    encrypt_another_category,
]
