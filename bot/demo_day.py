"""The scripted dispatch day `dispatchbot demo` plays, scene by scene (see `bot/demo.py`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot import demo_assist
from bot.demo_data import OWNER, WORKERS

if TYPE_CHECKING:
    from bot.demo import Demo


async def dispatch_day(demo: Demo) -> None:
    say = demo.say
    say("== Setting up the company ==")
    await demo.api(
        "POST", "/services", {"code": "plumb", "name": "Plumbing", "required_skills": []}
    )
    await demo.api(
        "POST",
        "/services",
        {"code": "gas", "name": "Gas boiler service", "required_skills": ["gas-cert"]},
    )
    await demo.api(
        "POST", "/services", {"code": "clean", "name": "Deep cleaning", "required_skills": []}
    )
    await demo.api(
        "POST", "/services", {"code": "elec", "name": "Electrical", "required_skills": []}
    )
    for i, (name, lat, lon, svc, skills, status) in enumerate(WORKERS):
        if "gas-cert" in skills:
            svc = [*svc, "gas"]
        fw = await demo.api(
            "POST",
            "/fieldworkers",
            {
                "name": name,
                "phone": f"+49151000000{i:02d}",
                "channels": ["telegram"],
                "services": svc,
                "skills": skills,
                "base_location": {"lat": lat, "lon": lon},
                "timezone": "Europe/Berlin",
                "working_hours": None,
                "status": status,
            },
        )
        demo.names[fw["id"]] = name
        user = 7000 + i
        demo.user_of[fw["id"]] = user
        demo.type(user, f"/start {fw['invite_code']}")
    await demo.wait(
        lambda calls: (
            sum(
                1
                for c in calls
                if c.method == "sendMessage" and "Welcome" in str(c.params.get("text"))
            )
            == len(WORKERS)
        )
    )
    say(f"{len(WORKERS)} fieldworkers linked their Telegram accounts with their invite codes.")

    customer = {"name": "Maria Weber", "phone": "+4917612345678", "email": None}
    say()
    say("== 08:02 Booking 1: leaking pipe, automatic first-to-accept ==")
    b1 = await demo.api(
        "POST",
        "/bookings",
        {
            "customer": customer,
            "address": "Torstraße 12, Berlin",
            "location": {"lat": 52.5290, "lon": 13.4010},
            "services": ["plumb"],
            "appointments": [
                {"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T11:00:00+01:00"}
            ],
            "notes": "Water under the sink",
        },
    )
    await demo.available(b1["id"])
    asked = await demo.asked(b1["id"], 3)
    users = sorted(asked)
    await demo.decline(users[0], asked[users[0]], 1)
    await demo.wait(
        lambda calls: any(
            c.method == "editMessageText" and "Declined" in str(c.params.get("text")) for c in calls
        )
    )
    demo.accept(users[1], asked[users[1]])
    await demo.wait(
        lambda calls: (
            sum(
                1
                for c in calls
                if c.method == "editMessageText" and "taken by another" in str(c.params.get("text"))
            )
            >= 1
        )
    )
    demo.accept(users[2], asked[users[2]])
    await demo.wait(
        lambda calls: any(
            c.method == "answerCallbackQuery" and "another" in str(c.params.get("text"))
            for c in calls
        )
    )
    say("  (a late accept was answered: “Sorry, another fieldworker already took this job.”)")
    await demo.report(b1["id"])

    say()
    say("== 09:15 Booking 2: gas boiler service, needs the gas certificate ==")
    b2 = await demo.api(
        "POST",
        "/bookings",
        {
            "customer": {"name": "Tom Kruger", "phone": "+4917687654321", "email": None},
            "address": "Kastanienallee 5, Berlin",
            "location": {"lat": 52.5380, "lon": 13.4100},
            "services": ["gas"],
            "appointments": [
                {"start": "2026-12-01T13:00:00+01:00", "end": "2026-12-01T14:30:00+01:00"}
            ],
        },
    )
    await demo.available(b2["id"])
    asked = await demo.asked(b2["id"], 1)
    (only,) = asked
    await demo.decline(only, asked[only], 5, typed="Van is at the garage today")
    await demo.wait(
        lambda calls: any(
            "garage" in str(c.params.get("text")) for c in calls if c.method == "editMessageText"
        )
    )
    got = await demo.booking(b2["id"])
    say(f"  ✗ declined with a typed reason: “{got['jobs'][0]['requests'][0]['reason']}”")
    await demo.wait(
        lambda calls: any(
            c.method == "sendMessage"
            and c.params.get("chat_id") == OWNER
            and "no eligible fieldworker" in str(c.params.get("text"))
            for c in calls
        )
    )
    say(
        f"  ⚠ job {got['jobs'][0]['id']} is {got['jobs'][0]['status']}: nobody eligible is left; "
        "the owner was alerted on Telegram."
    )

    say()
    say("== 10:40 Booking 3: deep cleaning, manual dispatch by staff ==")
    b3 = await demo.api(
        "POST",
        "/bookings",
        {
            "customer": {"name": "Lena Vogel", "phone": "+4917611122233", "email": None},
            "address": "Bergmannstraße 20, Berlin",
            "location": {"lat": 52.4890, "lon": 13.3950},
            "services": ["clean"],
            "dispatch_mode": "manual",
            "appointments": [
                {"start": "2026-12-02T08:00:00+01:00", "end": "2026-12-02T12:00:00+01:00"}
            ],
        },
    )
    eligible = (await demo.api("GET", f"/bookings/{b3['id']}/available-fieldworkers"))["eligible"]
    shortlist = [e["fieldworker_id"] for e in eligible[:2]]
    say("  staff ask the two nearest: " + ", ".join(demo.names[f] for f in shortlist))
    await demo.api("POST", f"/bookings/{b3['id']}/job-requests", {"fieldworker_ids": shortlist})
    asked = await demo.asked(b3["id"], 2)
    for user in asked:
        demo.accept(user, asked[user])
    for _ in range(100):
        got = await demo.booking(b3["id"])
        if sum(r["status"] == "accepted" for r in got["jobs"][0]["requests"]) == 2:
            break
        await asyncio.sleep(0.1)
    say("  both accepted; the job waits for staff to choose")
    await demo.api("POST", f"/bookings/{b3['id']}/assign", {"fieldworker_id": shortlist[1]})
    say(
        f"  staff confirm {demo.names[shortlist[1]]}; "
        f"{demo.names[shortlist[0]]} is told they were not selected"
    )
    await demo.report(b3["id"])

    await demo_assist.reschedule(demo, b1["id"])
    await demo_assist.reschedule_assist(demo)
    await email_scene(demo)

    say()
    say("== History of booking 1 ==")
    for h in await demo.api("GET", f"/bookings/{b1['id']}/history"):
        who = h["actor"]["name"] or h["actor"]["kind"]
        say(
            f"  {h['at'][11:19]} {h['action']:<18} by {who:<14} "
            f"{h['from_status'] or '':>10} → {h['to_status'] or ''}"
        )


async def email_scene(demo: Demo) -> None:
    """Booking 5: a roofer who works by email gets the request by email and accepts by link."""
    say = demo.say
    assert demo.mail is not None
    say()
    say("== 13:30 Booking 5: roof repair, the roofer works by email ==")
    await demo.api("POST", "/services", {"code": "roof", "name": "Roof repair"})
    kai = await demo.api(
        "POST",
        "/fieldworkers",
        {
            "name": "Kai Brandt",
            "email": "kai@roofers.example",
            "channels": ["email"],
            "services": ["roof"],
            "base_location": {"lat": 52.515, "lon": 13.385},
            "timezone": "Europe/Berlin",
            "working_hours": None,
        },
    )
    demo.names[kai["id"]] = kai["name"]
    b4 = await demo.api(
        "POST",
        "/bookings",
        {
            "customer": {"name": "Ole Hansen", "phone": "+4917644455566", "email": None},
            "address": "Oranienstraße 40, Berlin",
            "location": {"lat": 52.5020, "lon": 13.4180},
            "services": ["roof"],
            "appointments": [
                {"start": "2026-12-02T14:00:00+01:00", "end": "2026-12-02T16:00:00+01:00"}
            ],
        },
    )
    [mail] = await demo.mail.wait_for("kai@roofers.example", timeout=20)
    say(f"  → job request emailed to Kai Brandt: “{mail.subject}”")
    accept = next(line for line in mail.text.splitlines() if line.startswith("Accept: "))
    # The demo server listens on a port of its own choosing: follow the link's path there.
    link = demo.base + accept[accept.index("/r/") :]
    async with demo.http.get(link) as page:
        shown = await page.text()
    say(f"  Kai opens the Accept link: a page with the job and {shown.count('<button')} buttons")
    async with demo.http.post(link, data={"action": "accept"}) as answer:
        text = await answer.text()
    say("  Kai presses Accept: “" + text.split("<strong>")[1].split("</strong>")[0] + "”")
    await demo.report(b4["id"])
