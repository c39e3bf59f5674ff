"""Long work on the console: the operator rebuilds the search index and follows it on the job's
page (left and opened again from the index page); a unit's import job is not there for another
unit's staff; a job whose process died shows as interrupted rather than running for ever."""

from __future__ import annotations

import re
from datetime import timedelta

from accounts.demo import demo_id
from accounts.models import Role, User
from tests.attack.test_authz_matrix import PA, P
from tests.booking.world import make_user
from tests.console.desk import finished_job, post_form, signed_in
from tests.console.paying import with_password
from tests.console.test_page_matrix import import_job
from yixiang.db import utcnow
from yixiang.long_jobs import JobStatus, LongJob


async def test_the_operator_rebuilds_the_index_and_comes_back_to_its_progress(backend, client):
    operator = await signed_in(backend, PA)
    r = await post_form(operator, "/console/search-index", "/console/search-index/reindex")
    assert r.status_code == 303
    job = await finished_job(operator, r.headers["location"])
    assert 'data-status="done"' in job.text and "索引已重建" in job.text
    documents = int(re.search(r"索引已重建：(\d+) 条", job.text).group(1))
    assert documents > 0 and f"{documents} / {documents}" in job.text  # every instrument counted
    listed = await operator.get("/console/search-index")
    assert r.headers["location"] in listed.text and f"{documents} 条" in listed.text
    # the rebuilt index answers searches
    found = await client.get("/api/v1/instruments/search", params={"q": "核磁"})
    assert found.status_code == 200 and found.json()["items"]


async def test_another_units_staff_do_not_see_a_units_import(backend):
    job_id = await import_job(backend)
    own = await signed_in(backend, P)
    assert (await own.get(f"/console/jobs/{job_id}")).status_code == 200
    stranger = await make_user(backend, demo_id("unit-hzcl"), Role.provider_staff)
    other = await with_password(backend, User.username == stranger)
    refused = await other.get(f"/console/jobs/{job_id}")
    assert refused.status_code == 404 and "导入月报" not in refused.text


async def test_a_job_left_running_by_a_dead_process_shows_as_interrupted(backend):
    job = LongJob(
        kind="search_reindex",
        title="重建搜索索引",
        status=JobStatus.running,
        created_at=utcnow() - timedelta(hours=1),
    )
    async with backend.runtime.session_maker() as session, session.begin():
        session.add(job)
    page = await (await signed_in(backend, PA)).get(f"/console/jobs/{job.id}")
    assert 'data-status="interrupted"' in page.text and "已中断" in page.text
    assert 'http-equiv="refresh"' not in page.text
