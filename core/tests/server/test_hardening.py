"""The server's limits against hostile clients: unauthenticated or invalid ingest, oversized,
chunked and malformed bodies, slow headers, forms without CSRF tokens, guessed sign-ins."""

from __future__ import annotations

import socket
import urllib.parse
import urllib.request

from team import TeamServer, wait_until
from test_remote import gpu_event


def raw(team: TeamServer, data: bytes, *, read_timeout: float = 60.0) -> bytes:
    """Send bytes on a fresh connection; return everything the server answers."""
    host, port = team.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of an HTTP answer."""
    return int(answer.split(b" ", 2)[1])


def test_ingest_needs_a_token_with_the_ingest_role(sqlite_team: TeamServer) -> None:
    """Posting lineage without a token is 401, with a reviewer's token 403; nothing stored."""
    event = gpu_event("5f0e1a3c-0000-4000-8000-000000000001", 10)
    before = sqlite_team.snapshot()
    assert sqlite_team.request("POST", "/api/v1/lineage", body=event)[0] == 401
    status, body = sqlite_team.request("POST", "/api/v1/lineage", body=event,
                                       token=sqlite_team.tokens["user:erin"])
    assert status == 403 and "needs the role ingest" in body["error"]["message"]
    assert sqlite_team.snapshot() == before


def test_invalid_event_is_422_naming_the_field(sqlite_team: TeamServer) -> None:
    """An event the OpenLineage schema refuses is answered 422 with the field at fault."""
    token = sqlite_team.tokens["agent:trainer"]
    event = gpu_event("not-a-uuid", 10)
    status, body = sqlite_team.request("POST", "/api/v1/lineage", body=event, token=token)
    assert status == 422
    assert body["error"]["field"] == "run.runId" and "not a UUID" in body["error"]["message"]
    event = gpu_event("5f0e1a3c-0000-4000-8000-000000000002", 10)
    event["eventType"] = "EXPLODE"
    status, body = sqlite_team.request("POST", "/api/v1/lineage", body=event, token=token)
    assert status == 422 and body["error"]["field"] == "eventType"
    answer = raw(sqlite_team, b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer " + token.encode() + b"\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 5\r\n"
                 b"Connection: close\r\n\r\n{nope")
    assert status_of(answer) == 400 and b"not JSON" in answer


def test_oversized_body_is_refused_before_it_is_read(sqlite_team: TeamServer) -> None:
    """A Content-Length over the limit is answered 413 at once, without reading the body."""
    answer = raw(sqlite_team, b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\n"
                 b"Content-Length: 99999999999\r\nConnection: close\r\n\r\n{")
    assert status_of(answer) == 413 and b"over the limit" in answer


def test_chunked_body_is_counted_as_it_arrives(sqlite_team: TeamServer) -> None:
    """A chunked body with no Content-Length is cut off with 413 once past the limit."""
    token = sqlite_team.tokens["agent:trainer"].encode()
    head = (b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
            b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n")
    chunk = b"x" * (1024 * 1024)
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(20))
    answer = raw(sqlite_team, head + body + b"0\r\n\r\n")
    assert status_of(answer) == 413 and b"over the limit" in answer


def test_malformed_content_length_is_400(sqlite_team: TeamServer) -> None:
    """A Content-Length that is not a number is refused with 400, not a dropped connection."""
    for value in (b"12abc", b"-5", b"1, 2"):
        answer = raw(sqlite_team, b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: " + value + b"\r\nConnection: close\r\n\r\n{}")
        assert answer.startswith(b"HTTP/1.1 400"), (value, answer[:200])


def test_slow_headers_are_cut_off(sqlite_team: TeamServer) -> None:
    """A client that never finishes its request headers is disconnected (slow-loris)."""
    host, port = sqlite_team.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=120) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        closed = wait_until("the server to close the connection",
                            lambda: s.recv(1024) == b"", timeout=120)
    assert closed


def signin_form(team: TeamServer) -> tuple[str, str]:
    """(pre-sign-in CSRF cookie, form token) from the sign-in page."""
    with urllib.request.urlopen(team.url + "/signin", timeout=30) as reply:
        cookie = reply.headers["Set-Cookie"].split(";")[0]
        html = reply.read().decode()
    token = html.split('name="csrf" value="')[1].split('"')[0]
    return cookie, token


def post_form(team: TeamServer, path: str, fields: dict[str, str],
              cookie: str | None = None) -> tuple[int, str, str]:
    """Post a form the way a browser would; (status, body, Set-Cookie)."""
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(team.url + path, data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", **({"Cookie": cookie}
                                                                if cookie else {})})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as reply:
            return reply.status, reply.read().decode(), reply.headers.get("Set-Cookie", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Set-Cookie", "")


def test_forms_without_csrf_token_are_refused(sqlite_team: TeamServer) -> None:
    """Sign-in and approve posts without the right CSRF token are 403 and change nothing;
    the session cookie is HttpOnly and SameSite=Strict."""
    from team import docs_spec

    r = sqlite_team.client("agent:trainer").file(docs_spec())
    before = sqlite_team.snapshot()
    status, body, _ = post_form(sqlite_team, "/signin",
                                {"token": sqlite_team.tokens["user:chris"]})
    assert status == 403 and "CSRF" in body
    cookie, form = signin_form(sqlite_team)
    status, _, set_cookie = post_form(sqlite_team, "/signin", {
        "token": sqlite_team.tokens["user:chris"], "csrf": form}, cookie)
    assert status == 303
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie.replace("Strict",
                                                                                  "strict")
    session = set_cookie.split(";")[0]
    before = {k: v for k, v in sqlite_team.snapshot().items() if k != "web_sessions"}
    for fields in ({"digest": r.digest}, {"digest": r.digest, "csrf": "forged"}):
        status, body, _ = post_form(sqlite_team, f"/requests/{r.id}/approve", fields, session)
        assert status == 403 and "CSRF" in body
    after = {k: v for k, v in sqlite_team.snapshot().items() if k != "web_sessions"}
    assert after == before


def test_wrong_sign_ins_are_rate_limited(sqlite_team: TeamServer) -> None:
    """100 wrong sign-ins from one address: after the limit each is refused with 429 and
    Retry-After, and even the right token is refused until the window passes."""
    cookie, form = signin_form(sqlite_team)
    statuses = [post_form(sqlite_team, "/signin", {"token": f"tlk_x_{i}", "csrf": form},
                          cookie)[0] for i in range(100)]
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
    status, body, _ = post_form(sqlite_team, "/signin",
                                {"token": sqlite_team.tokens["user:chris"], "csrf": form},
                                cookie)
    assert status == 429 and "too many wrong sign-ins" in body
