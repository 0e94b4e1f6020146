"""Bug: Unicode digits were read as ids: `/bookings/` + an Arabic-Indic one was booking 1.

The router's `\\d` matches every Unicode digit and `int()` reads them, so one resource had many
spellings (and ids nobody typed reached the database). Now a path id is ASCII digits only; any other
spelling is no such endpoint (404 in the error shape). Callback data (`notifications.callbacks`)
and staff command arguments already took ASCII digits only: checked here too.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from admin_commands.parsing import UsageError, parse_id
from notifications.callbacks import unpack
from tests.factories import add_service, create_booking
from tests.integration.test_api import assert_error, call

ARABIC_ONE, DEVANAGARI_ONE, FULLWIDTH_ONE = "\u0661", "\u0967", "\uff11"


async def test_only_ascii_digits_name_a_booking(api: TestClient) -> None:
    await add_service()
    booking_id = await create_booking()
    assert booking_id == 1
    assert (await call(api, "GET", "/bookings/1"))[0] == 200
    for digit in (ARABIC_ONE, DEVANAGARI_ONE, FULLWIDTH_ONE):
        assert_error(await call(api, "GET", f"/bookings/{digit}"), 404, "not_found")
        assert_error(await call(api, "GET", f"/services/{digit}"), 404, "not_found")
    # Query-string ids are integers read strictly too.
    assert_error(
        await call(api, "GET", f"/notifications?booking_id={ARABIC_ONE}"), 422, "invalid_value"
    )


def test_callback_data_and_staff_arguments_take_ascii_digits_only() -> None:
    assert unpack(f"a:{ARABIC_ONE}") is None and unpack("a:1") is not None
    try:
        parse_id(ARABIC_ONE, "BOOKING")
    except UsageError:
        pass
    else:
        raise AssertionError("an Arabic-Indic digit was read as an id")
