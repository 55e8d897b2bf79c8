"""The review web page: sign-in, queue, a request's page, history, spend, receipts.

Server-rendered with Jinja2 (autoescaped). A page needs a session (sign in with an API token)
or a trusted proxy's header; every form carries the session's CSRF token and a post without
it is refused (403). Approve and reject appear only to the request's eligible reviewers, and
the service refuses anyone else whatever they post. No secret is ever rendered: the page shows
token ids at most, never a token.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from tracline import errors
from tracline.approvals import State, TrainingRequest, fit_line
from tracline.identity import Principal
from tracline.server._auth import SESSION_COOKIE
from tracline.server._lineage import resolve_digest, trace_of
from tracline.server._state import ServerState, state_of
from tracline.server._svg import age, lineage_svg, marquez_link, spend_series, spend_svg

__all__ = ["error_page", "web"]

web = APIRouter(include_in_schema=False)
_env = Environment(loader=PackageLoader("tracline.server", "templates"),
                   autoescape=select_autoescape(default=True))
_PRE_CSRF = "tracline_signin_csrf"


def _cookie(response: Response, s: ServerState, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=s.settings.secure_cookies, path="/")


def _render(request: Request, template: str, principal: Principal | None, status: int = 200,
            **values: Any) -> HTMLResponse:
    s = state_of(request)
    session = request.cookies.get(SESSION_COOKIE)
    csrf = s.auth.csrf_token(session) if session else ""
    html = _env.get_template(template).render(request=request, me=principal, csrf=csrf,
                                              **values)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, error: errors.TraclineError, status: int) -> Response:
    """A tracline error as a page (sign-in for a missing or lapsed session)."""
    if status == 401:
        return RedirectResponse("/signin", status_code=303)
    return _render(request, "error.html", None, status=status, error=error, status_code=status)


def _me(request: Request) -> Principal:
    return state_of(request).auth.principal(request)


def _check_csrf(request: Request, token: str | None) -> None:
    s = state_of(request)
    if not s.auth.check_csrf(request.cookies.get(SESSION_COOKIE), token):
        raise errors.NotAuthorized("the form carries no valid CSRF token",
                                   hint="reload the page and submit the form again")


@web.get("/signin")
def signin_page(request: Request) -> Response:
    """The sign-in form (an API token; or single sign-on through the reverse proxy)."""
    s = state_of(request)
    pre = secrets.token_urlsafe(24)
    response = _render(request, "signin.html", None, pre_csrf=pre, problem=None)
    _cookie(response, s, _PRE_CSRF, pre, 600)
    return response


@web.post("/signin")
def signin(request: Request, token: Annotated[str, Form(max_length=200)] = "",
           csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Open a session for a valid token; wrong tries are counted and limited per address."""
    s = state_of(request)
    address = request.client.host if request.client else "?"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and address in s.settings.proxy_trusted:  # behind the proxy: the browser's
        address = forwarded.split(",")[0].strip()
    pre = request.cookies.get(_PRE_CSRF)
    if not pre or not secrets.compare_digest(pre, csrf):
        raise errors.NotAuthorized("the sign-in form carries no valid CSRF token",
                                   hint="reload the sign-in page and try again")
    wait = s.auth.limiter.retry_after(address)
    if wait is not None:
        response = _render(request, "signin.html", None, status=429, pre_csrf=pre,
                           problem=f"too many wrong sign-ins from {address}: try again in "
                           f"{wait} s")
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        principal = s.tokens.authenticate(token.strip())
    except errors.AuthenticationError:
        s.auth.limiter.failed(address)
        return _render(request, "signin.html", None, status=401, pre_csrf=pre,
                       problem="that token is unknown, expired or revoked")
    session = s.tokens.open_session(principal, s.settings.session_ttl)
    done = RedirectResponse("/", status_code=303)
    _cookie(done, s, SESSION_COOKIE, session, int(s.settings.session_ttl.total_seconds()))
    done.delete_cookie(_PRE_CSRF, path="/")
    return done


@web.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End the session."""
    _check_csrf(request, csrf)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        state_of(request).tokens.close_session(session)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _row(s: ServerState, r: TrainingRequest) -> dict[str, Any]:
    return {"r": r, "age": age(r.created_at, s.requests.now()), "fit": fit_line(r.budget,
                                                                               r.estimate),
            "kind": "agent" if r.requester.startswith("agent:") else "person",
            "required": s.requests.policy.required_approvals(r)}


@web.get("/")
def queue(request: Request) -> Response:
    """Pending requests: estimate against budget, datasets, rationale, requester, age."""
    me, s = _me(request), state_of(request)
    pending = s.requests.list(state=State.PENDING)
    return _render(request, "queue.html", me, rows=[_row(s, r) for r in reversed(pending)])


def _eligible(s: ServerState, me: Principal, r: TrainingRequest) -> bool:
    if not me.may("approve") or me.name not in s.requests.policy.eligible(r):
        return False
    return r.state == State.PENDING and r.expires_at > s.requests.now()


@web.get("/requests/{request_id}")
def request_page(request: Request, request_id: str) -> Response:
    """One request, with approve/reject for its eligible reviewers only."""
    me, s = _me(request), state_of(request)
    r = s.requests.get(request_id)
    actors, problems = s.requests.in_force(r)
    return _render(request, "request.html", me, row=_row(s, r), in_force=sorted(actors),
                   problems=problems, eligible=_eligible(s, me, r),
                   reviewers=s.requests.policy.describe(r),
                   audit=s.requests.audit(request_id))


@web.post("/requests/{request_id}/approve")
def approve(request: Request, request_id: str, csrf: Annotated[str, Form(max_length=200)] = "",
            digest: Annotated[str, Form(max_length=200)] = "",
            note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Approve as the signed-in reviewer (the server's key attests it)."""
    _check_csrf(request, csrf)
    me, s = _me(request), state_of(request)
    me.require("approve")
    s.requests.approve(request_id, me.name, note=note or None, digest=digest or None)
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


@web.post("/requests/{request_id}/reject")
def reject(request: Request, request_id: str, csrf: Annotated[str, Form(max_length=200)] = "",
           reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Reject as the signed-in reviewer, saying why."""
    _check_csrf(request, csrf)
    me, s = _me(request), state_of(request)
    me.require("reject")
    s.requests.reject(request_id, me.name, reason)
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


@web.get("/history")
def history(request: Request) -> Response:
    """Every request and the audit chain's verification status."""
    me, s = _me(request), state_of(request)
    return _render(request, "history.html", me,
                   rows=[_row(s, r) for r in s.requests.list()],
                   report=s.requests.verify_audit())


@web.get("/spend")
def spend(request: Request, by: Annotated[str, Query(pattern="^(person|agent|project)$")]
          = "person") -> Response:
    """Spend by person, agent or project per week, as a chart."""
    me, s = _me(request), state_of(request)
    requests = s.requests.list()
    weeks, series = spend_series(requests, by)
    chart = Markup(spend_svg(weeks, series, s.requests.policy.currency))
    totals = sorted(((k, sum(v.values(), Decimal(0))) for k, v in series.items()),
                    key=lambda kv: -kv[1])
    return _render(request, "spend.html", me, by=by, chart=chart, totals=totals)


@web.get("/receipt")
def receipt(request: Request, ref: Annotated[str, Query(max_length=200)] = "") -> Response:
    """An artifact's receipt with its lineage graph and a link to Marquez's web UI."""
    me, s = _me(request), state_of(request)
    if not ref:
        return _render(request, "receipt.html", me, ref="", trace=None)
    from tracline.lineage import build_receipt

    with s.registry.snapshot():
        artifact = resolve_digest(s.registry, ref)
        trace = trace_of(s.registry, ref, 10)
        made = build_receipt(s.registry, trace)
    web_url = s.settings.marquez_web_url
    return _render(request, "receipt.html", me, ref=ref, trace=trace, receipt=made.to_dict(),
                   graph=Markup(lineage_svg(trace, web_url)), artifact=artifact,
                   marquez=marquez_link(web_url, "dataset", artifact.namespace, artifact.name))
