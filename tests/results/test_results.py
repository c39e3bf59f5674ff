"""Delivering results: the provider uploads, the booking moves to delivered, only the booking's firm
(and the provider) can list and download through short-lived signed links, every download is audited."""

from __future__ import annotations

import hashlib
import os
import uuid
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from results.models import ResultDownload
from results.settings import ResultsSettings
from tests.results.flow import completed_booking, upload
from tests.support import error_code


async def test_provider_delivers_and_the_researcher_downloads(client, login, backend):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    pdf = b"%PDF-1.7\n" + os.urandom(5000)
    delivered = await upload(
        client,
        provider,
        booking_id,
        [("报告.pdf", pdf), ("raw.csv", b"t,signal\n0,1\n")],
        description="NMR 报告",
    )
    assert delivered.status_code == 201, delivered.text
    booking = (
        await client.get(f"/api/v1/bookings/{booking_id}", headers=await login("demo-researcher"))
    ).json()
    assert booking["status"] == "delivered"

    researcher = await login("demo-researcher")
    listing = await client.get(f"/api/v1/bookings/{booking_id}/results", headers=researcher)
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert [(i["name"], i["size"]) for i in items] == [("报告.pdf", len(pdf)), ("raw.csv", 13)]
    assert items[0]["sha256"] == hashlib.sha256(pdf).hexdigest()
    download = await client.get(items[0]["download_url"])  # the link alone suffices (mini-program)
    assert download.status_code == 200
    assert download.content == pdf
    assert download.headers["content-type"].startswith("application/pdf")
    assert "attachment" in download.headers["content-disposition"]

    async with backend.runtime.session_maker() as session:
        audited = await session.scalar(
            select(func.count())
            .select_from(ResultDownload)
            .where(ResultDownload.file_id == uuid.UUID(items[0]["id"]))
        )
    assert audited == 1


async def test_another_firm_gets_404_on_list_and_download(client, login, backend):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    await upload(client, provider, booking_id, [("r.pdf", b"%PDF-1.4 x")])
    stranger = await login("demo-researcher-2")
    listing = await client.get(f"/api/v1/bookings/{booking_id}/results", headers=stranger)
    assert listing.status_code == 404
    assert error_code(listing) == "booking_not_found" or error_code(listing) == "not_found"

    # a stranger holding a link made for someone else cannot use it under their own name
    items = (
        await client.get(f"/api/v1/bookings/{booking_id}/results", headers=await login("demo-researcher"))
    ).json()["items"]
    link = urlsplit(items[0]["download_url"])
    query = parse_qs(link.query)
    me = (await client.get("/api/v1/me", headers=stranger)).json()["id"]
    forged = await client.get(link.path, params={"uid": me, "exp": query["exp"][0], "sig": query["sig"][0]})
    assert forged.status_code == 403
    assert error_code(forged) == "link_invalid"


async def test_expired_or_tampered_links_are_refused(client, login, backend):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    await upload(client, provider, booking_id, [("r.pdf", b"%PDF-1.4 x")])
    items = (
        await client.get(f"/api/v1/bookings/{booking_id}/results", headers=await login("demo-researcher"))
    ).json()["items"]
    link = urlsplit(items[0]["download_url"])
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    tampered = await client.get(link.path, params=query | {"sig": query["sig"][:-2] + "AA"})
    assert tampered.status_code == 403
    expired = await client.get(link.path, params=query | {"exp": "1000"})
    assert expired.status_code == 403
    assert error_code(expired) == "link_invalid"


async def test_researchers_cannot_upload_and_nothing_before_completion(client, login, backend):
    booking_id, _ = await completed_booking(client, login, backend)
    researcher = await login("demo-researcher")
    for member in (researcher, await login("demo-firm-admin")):  # the booking's own firm
        refused = await upload(client, member, booking_id, [("r.pdf", b"%PDF-1.4 x")])
        assert refused.status_code == 403, refused.text
        assert error_code(refused) == "results_by_provider_only"
        assert "管理人员上传" in refused.json()["error"]["message"]
    stranger = await upload(client, await login("demo-researcher-2"), booking_id, [("r.pdf", b"%PDF-1.4 x")])
    assert stranger.status_code == 404  # another firm learns nothing of the booking
    exe = await upload(
        client, await login("demo-provider"), booking_id, [("tool.exe", b"MZ" + b"\x00" * 700)]
    )
    assert exe.status_code == 415
    assert error_code(exe) == "file_type_refused"
    still = (await client.get(f"/api/v1/bookings/{booking_id}", headers=researcher)).json()
    assert still["status"] == "completed"  # a refused upload delivers nothing


async def test_a_correction_keeps_the_old_version_in_the_history(client, login, backend):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    first = (await upload(client, provider, booking_id, [("report.pdf", b"%PDF-1.4 v1")])).json()["items"][0]
    corrected = await upload(
        client, provider, booking_id, [("report.pdf", b"%PDF-1.4 v2 fixed")], params={"replaces": first["id"]}
    )
    assert corrected.status_code == 201, corrected.text
    items = (
        await client.get(f"/api/v1/bookings/{booking_id}/results", headers=await login("demo-researcher"))
    ).json()["items"]
    assert [(i["version"], i["current"]) for i in items] == [(1, False), (2, True)]
    assert items[1]["replaces"] == first["id"]


async def test_a_large_upload_streams_without_holding_the_file_in_memory(client, login, backend):
    """300 MB through the HTTP app: the process grows by far less than the file."""
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    size = 300 * 1024 * 1024
    chunk = os.urandom(1024 * 1024)
    boundary = "yixiangbigupload"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="raw.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    peak = {"rss": 0}

    def rss_kb() -> int:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    base = rss_kb()

    async def body():
        yield head
        for _ in range(size // len(chunk)):
            peak["rss"] = max(peak["rss"], rss_kb())
            yield chunk
        yield tail

    results = ResultsSettings.of(backend.app.state.settings)
    limit, results.max_file_bytes = results.max_file_bytes, size + 1
    try:
        response = await client.post(
            f"/api/v1/bookings/{booking_id}/results",
            content=body(),
            headers=provider | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    finally:
        results.max_file_bytes = limit
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["size"] == size
    growth_mb = (peak["rss"] - base) / 1024
    assert growth_mb < 64, f"grew by {growth_mb:.0f} MB while streaming 300 MB"
