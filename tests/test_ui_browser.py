"""``pipkit ui`` in headless Chromium, driven over DevTools (tests/servers/cdp.py).

The page must name the drifted packages, show a ``pip install`` made behind its back within
a few seconds without a reload, draw one graph node per installed package, show markup from
package metadata as text, and log no console error (a CSP violation would be one). The
screenshot is kept as a test artifact (``PIPKIT_ARTIFACTS``, default the test's temp dir)
and written to ``docs/dashboard.png`` only with ``PIPKIT_UPDATE_SCREENSHOT=1``.

Skipped when Chromium is missing, except under CI (``CI`` set), where it must exist.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, pip_install, venv_python
from tests.servers.cdp import browser
from tests.uihelpers import XSS, drifted_env, running_ui

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
DRIFT_NAMES = (
    "Array.from(document.querySelectorAll('#drift tbody tr'), "
    "r => r.dataset.name + ':' + r.className)"
)


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required under CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return CHROMIUM


def test_dashboard_live_in_a_browser(
    chromium: str, venv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    drifted_env(venv, wheelhouse, tmp_path)
    with running_ui(venv, tmp_path) as ui, browser(chromium) as session:
        page = session.open(ui.url)
        rows = page.wait_for(
            f"document.querySelectorAll('#drift tbody tr[data-name]').length && {DRIFT_NAMES}"
        )
        assert sorted(rows) == ["beta:row-changed", "gamma:row-missing", "xss-pkg:row-extra"]
        assert page.evaluate("document.getElementById('state').textContent") == "out of sync"
        fixes = page.evaluate(
            "Array.from(document.querySelectorAll('#drift td.fix'), c => c.textContent)"
        )
        assert "pipkit install gamma==1.0" in fixes and "pipkit install beta==2.0" in fixes

        # One node per installed package, as pipkit's own reading lists them.
        installed = sorted(n["key"] for n in ui.doc("graph.json")["nodes"])
        drawn = page.wait_for("document.querySelectorAll('#graph svg g.node').length")
        assert drawn == len(installed)
        keys = page.evaluate(
            "Array.from(document.querySelectorAll('#graph g.node'), g => g.dataset.key)"
        )
        assert sorted(keys) == installed
        assert page.evaluate(
            "document.querySelector('#graph g.node[data-key=beta]')"
            ".classList.contains('state-changed')"
        )

        # Markup in a Summary is text: the title is untouched, no element was made of it.
        tip = page.evaluate(
            "document.querySelector('#graph g.node[data-key=\"xss-pkg\"] title').textContent"
        )
        assert XSS in tip
        assert page.evaluate("document.title") == "pipkit ui"
        assert page.evaluate("document.querySelectorAll('script').length") == 1
        assert page.evaluate("document.querySelectorAll('img').length") == 0

        # Click: the package's subtree is highlighted (xss-pkg requires alpha).
        page.evaluate(
            "document.querySelector('#graph g.node[data-key=\"xss-pkg\"]')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
        )
        lit = page.evaluate(
            "Array.from(document.querySelectorAll('#graph g.node.hl'), g => g.dataset.key)"
        )
        assert sorted(lit) == ["alpha", "xss-pkg"]

        # Behind pipkit's back: plain pip installs gamma 1.0 and upgrades beta. The page must
        # show it without a reload: the version counter of the data only moves forward.
        version = page.evaluate("document.body.dataset.version")
        pip_install(venv, "gamma==1.0", "beta==2.0", wheelhouse=wheelhouse)
        rows = page.wait_for(
            f"(() => {{ const r = {DRIFT_NAMES}; return r.length === 1 && r; }})()", timeout=30
        )
        assert rows == ["xss-pkg:row-extra"]
        page.wait_for(f"document.body.dataset.version !== {json.dumps(version)}")
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        assert (
            page.wait_for("document.querySelectorAll('#graph g.node').length") == len(installed) + 1
        )

        # The history records the outside change (pip may be seen half-way: one entry or
        # two); each diff is hidden until its entry is clicked.
        outside = (
            "Array.from(document.querySelectorAll('#timeline li.outside pre'), "
            "p => p.textContent).join('\\n')"
        )
        diff = page.wait_for(
            f"(() => {{ const d = {outside}; return d.includes('~ beta 1.0 -> 2.0') && d; }})()"
        )
        assert "+ gamma 1.0" in diff
        assert page.evaluate("document.querySelector('#timeline li.outside pre').hidden") is True
        page.evaluate("document.querySelector('#timeline li.outside button').click()")
        assert page.evaluate("document.querySelector('#timeline li.outside pre').hidden") is False
        assert (
            page.evaluate("document.querySelector('#timeline li.outside .tag-outside').textContent")
            == "outside pipkit"
        )

        page.evaluate(  # clear the highlight: the picture shows the drift colours
            "document.querySelector('#graph g.node[data-key=\"xss-pkg\"]')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
        )
        assert page.evaluate("document.querySelectorAll('#graph g.node.hl').length") == 0
        page.evaluate("window.scrollTo(0, 0)")
        artifacts = Path(os.environ.get("PIPKIT_ARTIFACTS") or tmp_path)
        artifacts.mkdir(parents=True, exist_ok=True)
        shot = artifacts / "dashboard.png"
        # Put the drift back for the picture: a dashboard with something to show.
        pip_install(venv, "beta==1.0", wheelhouse=wheelhouse)
        subprocess.run(
            [venv_python(venv), "-m", "pip", "uninstall", "-q", "-y", "gamma"], check=True
        )
        page.wait_for(f"{DRIFT_NAMES}.length === 3")
        page.screenshot(shot)
        assert shot.stat().st_size > 20000
        if os.environ.get("PIPKIT_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, ROOT / "docs" / "dashboard.png")
        session.pump(0.2)
        assert page.errors == [], json.dumps(page.errors, indent=1)
