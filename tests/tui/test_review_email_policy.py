"""Review › Policies, the email-verification rule of issue 13 §3: the new default
`oauth` (verified when emailVerified is set or the user has an OAuth account, else
reserved) is the first choice and the one chosen; each kind's count is the engine's
(`report.email_verification`); "all as verified" has its risk said beside it
(`VERIFIED_POLICY_RISK`); choosing by keys re-runs the checks with that policy."""

from __future__ import annotations

from console.source import VERIFIED_POLICY_RISK, Policies, validate_export
from console.tui.screens.review import UNVERIFIED_CHOICES

from tui_support import screen_text, wait_until


async def open_policies(pilot) -> None:
    app = pilot.app
    app.query_one("#demo-keys").focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.state.live.status == "ok", what="the live check")
    await pilot.press("ctrl+n", "enter")
    await wait_until(pilot, lambda: app.state.load.status == "loaded", what="the load")
    await pilot.press("ctrl+n", "p")
    await pilot.pause()
    assert app.focused is app.query_one("#policy-unverified")


async def choose(pilot, value: str) -> None:
    """The choice named `value`, by keys from the one chosen now."""
    app = pilot.app
    radio = app.query_one("#policy-unverified")
    start = radio.pressed_index
    wanted = [v for v, _ in UNVERIFIED_CHOICES].index(value)
    await pilot.press(*(["down"] * (wanted - start) if wanted >= start else ["up"] * (start - wanted)), "enter")
    await wait_until(pilot, lambda: app.state.policies.unverified_email == value, what=value)
    await wait_until(pilot, lambda: app.state.load.status == "loaded" and app.state.report.policies.unverified_email
                     == value, what="the re-check")


def counts_line(app) -> str:
    return " ".join(str(app.query_one("#unverified-words").render()).split())


async def test_oauth_is_the_default_with_its_counts_and_verified_says_its_risk(demo_app, demo_area):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_policies(pilot)
        assert UNVERIFIED_CHOICES[0][0] == "oauth"
        radio = app.query_one("#policy-unverified")
        assert radio.pressed_index == 0 and app.state.policies.unverified_email == "oauth"
        lines = [line for line in screen_text(app).splitlines() if "dated or OAuth" in line]
        assert len(lines) == 1 and "●" in lines[0]  # chosen, readable without colour

        truth = validate_export(demo_area.export, instance_kind="production").email_verification
        assert truth["verified_by_oauth"] > 0 and truth["reserved"] > 0
        line = counts_line(app)
        assert (f"{truth['verified_by_date']:,} verified by date, {truth['verified_by_oauth']:,} by an OAuth account, "
                f"{truth['reserved']:,} reserved") in line

        # the risk beside "all as verified": on screen under it
        app.query_one("#verified-risk").scroll_visible(animate=False)
        await pilot.pause()
        words = " ".join(screen_text(app).split())
        assert " ".join(VERIFIED_POLICY_RISK.split())[:40] in words

        # all as verified: nothing reserved any more, the policy counted instead
        await choose(pilot, "verified")
        expected = validate_export(demo_area.export, policies=Policies(unverified_email="verified"),
                                   instance_kind="production").email_verification
        assert expected["reserved"] == 0 and expected["verified_by_policy"] == truth["reserved"]
        assert f"{expected['verified_by_policy']:,} verified by policy" in counts_line(app)

        # reserved: OAuth proves nothing any more
        await choose(pilot, "reserved")
        assert app.state.report.email_verification["verified_by_oauth"] == 0
        assert f"{app.state.report.email_verification['reserved']:,} reserved" in counts_line(app)
