"""Issue 14 in the dashboard: the create form's restart policy reaches the container and the
crash loop it drives (on-failure:3) runs to its end; the list shows the container."""

from __future__ import annotations

import re

from tests.test_dashboard import browser, login, page, shot  # noqa: F401 - fixtures
from tests.waiting import until


def test_create_form_sets_the_restart_policy(page, api):  # noqa: F811 - the fixture
    pg = page
    login(pg)
    pg.fill("#create-form input[name=cmd]", "sh -c 'exit 2'")
    pg.fill("#create-form input[name=name]", "e2e-restart")
    pg.select_option("#create-form select[name=restart_policy]", "on-failure:3")
    pg.click("#create-form button[type=submit]")
    pg.wait_for_url(re.compile(r".*/containers/[0-9a-f]{64}/$"))
    cid = pg.url.rstrip("/").rsplit("/", 1)[1]
    cfg = api.inspect(cid)["config"]
    assert (cfg["restart_policy"], cfg["restart_max_retries"]) == ("on-failure", 3)
    until(lambda: api.inspect(cid)["restart_count"] == 3, timeout=60)
    pg.goto(pg.base + "/")
    until(lambda: "e2e-restart" in pg.inner_text("#containers"))
    shot(pg, "20-restart-policy")
    assert not pg.problems, pg.problems
