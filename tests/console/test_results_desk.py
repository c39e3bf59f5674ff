"""Result files delivered from the console: the form streams them through the results service
(the booking becomes 已交付结果, the firm sees the file through the API); its token is in the
form's address, and a post without it is refused before anything is stored."""

from __future__ import annotations

import re

from tests.attack.test_authz_matrix import PNG, R1, P, Scene
from tests.booking.world import make_instrument, set_calendar
from tests.console.desk import signed_in


async def test_the_provider_delivers_a_result_file_from_the_booking_page(backend, client, login):
    s = Scene(backend, client, login)
    s.headers = {P: await login(P), R1: await login(R1)}
    s.world = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.world.instrument_id)
    booking_id = await s.completed()
    provider = await signed_in(backend, P)
    page = await provider.get(f"/console/bookings/{booking_id}")
    action = re.search(r'enctype="multipart/form-data" action="([^"]+)"', page.text)
    assert action and action.group(1).startswith(f"/console/bookings/{booking_id}/results?_csrf=")

    refused = await provider.post(
        f"/console/bookings/{booking_id}/results", files={"file": ("谱图.png", PNG, "image/png")}
    )
    assert refused.status_code == 403
    assert (await client.get(f"/api/v1/bookings/{booking_id}/results", headers=s.headers[R1])).json()[
        "items"
    ] == []

    r = await provider.post(
        action.group(1).replace("&amp;", "&"),
        files={"file": ("谱图.png", PNG, "image/png")},
        data={"description": "SEM 图像"},
    )
    assert r.status_code == 303
    shown = await provider.get(r.headers["location"])
    assert "已交付 1 个结果文件：谱图.png" in shown.text and "已交付结果" in shown.text
    items = (await client.get(f"/api/v1/bookings/{booking_id}/results", headers=s.headers[R1])).json()[
        "items"
    ]
    assert [(i["name"], i["description"]) for i in items] == [("谱图.png", "SEM 图像")]
    download = re.search(r'href="(/api/v1/results/[^"]+)"', shown.text)
    assert download and (await provider.get(download.group(1).replace("&amp;", "&"))).content == PNG
