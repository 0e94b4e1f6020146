"""The settings body of CONTRACT §4 was refused with 422 (unknown keys).

`customer_notify.rescheduled`, `nudge_after_s`, `reminder_before_s`, `day_before_confirmation`,
`reschedule_assist` and `sms_backup_for_requests` were missing from the settings model, which
forbids unknown keys: an integrator sending the documented body got 422, and `GET /settings` did not
show them. Every key is now stored and range-checked (issue 8 builds the timers that read some).
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.integration.test_api import call

CONTRACT_BODY = {
    "dispatch_mode": "auto",
    "travel_radius_km": 25,
    "assignment_timeout_s": 900,
    "decline_reason_required": True,
    "unassigned_alert_lead_s": 7200,
    "customer_notify": {
        "assigned": True,
        "no_acceptance_after_s": 1800,
        "unassigned_before_start": True,
        "fieldworker_cancelled": True,
        "fieldworker_changed": True,
        "rescheduled": True,
        "cancelled": True,
    },
    "auto_rebroadcast_on_cancel": True,
    "decline_reasons": [
        "Too far",
        "Not available",
        "Missing skill or equipment",
        "Personal",
        "Other",
    ],
    "nudge_after_s": 600,
    "reminder_before_s": 3600,
    "day_before_confirmation": False,
    "reschedule_assist": {"enabled": True, "max_slots": 3, "offer_expires_s": 86400},
    "sms_backup_for_requests": False,
}


async def test_the_contract_settings_body_is_accepted_and_shown(api: TestClient) -> None:
    status, body = await call(api, "GET", "/settings")
    assert status == 200 and body == CONTRACT_BODY, "the defaults are the CONTRACT's"
    changed = {**CONTRACT_BODY, "nudge_after_s": 300, "day_before_confirmation": True}
    status, body = await call(api, "PUT", "/settings", changed)
    assert status == 200 and body == changed
    assert (await call(api, "GET", "/settings"))[1] == changed


async def test_new_keys_are_range_checked(api: TestClient) -> None:
    for bad in (
        {"nudge_after_s": 2_592_001},
        {"reschedule_assist": {"max_slots": 4}},
        {"reschedule_assist": {"offer_expires_s": -1}},
    ):
        status, body = await call(api, "PUT", "/settings", bad)
        assert status == 422 and body["error"]["code"], body
    assert (await call(api, "GET", "/settings"))[1] == CONTRACT_BODY
