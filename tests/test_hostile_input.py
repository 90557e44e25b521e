"""Hostile input: every odd id, host, key and magic line is rejected or sent exactly as meant.

A rejected value raises InvalidInputError (UsageError in a magic) with one sentence that
names the field, and the emulator's request log stays empty. An accepted value reaches the
emulator as exactly one request: the expected method, raw path and decoded import id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import API_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from pinecone_magic import InvalidInputError, NotFoundError, cancel_import, describe_import
from pinecone_magic.config import validate_import_id
from pinecone_magic.emulator import Emulator


@dataclass(frozen=True)
class Case:
    """One input and what must happen to it.

    `host` is a template: `{url}` is the emulator's base URL and `{port}` its port. With
    `sent_id` set, the call must send DELETE to `/bulk/imports/{raw_segment}`, and the
    emulator must decode the segment to `sent_id`. With `sent_id` None, the call must be
    rejected with a message that contains `field`.
    """

    import_id: Any = "101"
    host: str = "{url}"
    api_key: str = API_KEY
    bind: str = "127.0.0.1"
    sent_id: str | None = None
    raw_segment: str = ""
    field: str = ""


def sent(import_id: Any, raw_segment: str, decoded: str | None = None, **kwargs: Any) -> Case:
    """Build a case that must be sent, with the id decoded to `decoded` (default: the id)."""
    return Case(
        import_id=import_id,
        sent_id=import_id if decoded is None else decoded,
        raw_segment=raw_segment,
        **kwargs,
    )


def rejected(field: str, **kwargs: Any) -> Case:
    """Build a case that must be rejected with a message containing `field`."""
    return Case(field=field, **kwargs)


LONG_ID = "a" * 1000

CASES = {
    # Import ids: every character but controls is allowed, in exactly one path segment.
    "id-plain": sent("101", "101"),
    "id-one-character": sent("7", "7"),
    "id-1000-characters": sent(LONG_ID, LONG_ID),
    "id-slash": sent("a/b", "a%2Fb"),
    "id-question-mark": sent("a?b", "a%3Fb"),
    "id-hash": sent("a#b", "a%23b"),
    "id-inner-space": sent("a b", "a%20b"),
    "id-percent": sent("100%", "100%25"),
    "id-percent-escape-text": sent("%2E%2E", "%252E%252E"),
    "id-nul-escape-text": sent("%00", "%2500"),
    "id-dot": sent(".", "%2E"),
    "id-dot-dot": sent("..", "%2E%2E"),
    "id-three-dots": sent("...", "%2E%2E%2E"),
    "id-dot-segment-inside": sent("a/../b", "a%2F..%2Fb"),
    "id-climbs-to-indexes": sent("../../indexes/quickstart", "..%2F..%2Findexes%2Fquickstart"),
    "id-leading-dot-slash": sent("./101", ".%2F101"),
    "id-plus": sent("a+b", "a%2Bb"),
    "id-query-like": sent("a&b=c", "a%26b%3Dc"),
    "id-backslash": sent("a\\b", "a%5Cb"),
    "id-quotes-and-brackets": sent("'\"<>", "%27%22%3C%3E"),
    "id-tilde": sent("~user", "~user"),
    "id-semicolon": sent(";x", "%3Bx"),
    "id-accent": sent("importé", "import%C3%A9"),
    "id-cjk": sent("导入", "%E5%AF%BC%E5%85%A5"),
    "id-emoji": sent("🚀", "%F0%9F%9A%80"),
    "id-arabic": sent("استيراد", "%D8%A7%D8%B3%D8%AA%D9%8A%D8%B1%D8%A7%D8%AF"),
    "id-private-use": sent("\ue000", "%EE%80%80"),
    "id-no-break-space-inside": sent("a\u00a0b", "a%C2%A0b"),
    "id-surrounding-whitespace": sent("  101\t", "101", decoded="101"),
    "id-int": sent(101, "101", decoded="101"),
    "id-empty": rejected("Import id", import_id=""),
    "id-only-spaces": rejected("Import id", import_id="   "),
    "id-1001-characters": rejected("Import id", import_id="a" * 1001),
    "id-nul": rejected("Import id", import_id="a\x00b"),
    "id-newline": rejected("Import id", import_id="a\nb"),
    "id-header-injection": rejected("Import id", import_id="101\r\nX-Evil: 1"),
    "id-tab-inside": rejected("Import id", import_id="a\tb"),
    "id-delete-character": rejected("Import id", import_id="a\x7fb"),
    "id-zero-width-space": rejected("Import id", import_id="a\u200bb"),
    "id-bidi-override": rejected("Import id", import_id="\u202e101"),
    "id-line-separator": rejected("Import id", import_id="a\u2028b"),
    "id-lone-surrogate": rejected("Import id", import_id="a\ud800b"),
    "id-negative-int": rejected("Import id", import_id=-1),
    "id-float": rejected("Import id", import_id=1.5),
    "id-none": rejected("Import id", import_id=None),
    "id-bool": rejected("Import id", import_id=True),
    # Hosts: a bare host gets https://, and http:// is allowed for loopback hosts only.
    "host-trailing-slash": sent("101", "101", host="{url}/"),
    "host-surrounding-whitespace": sent("101", "101", host="  {url}\n"),
    "host-uppercase-scheme": sent("101", "101", host="HTTP://127.0.0.1:{port}"),
    "host-localhost": sent("101", "101", host="http://localhost:{port}"),
    "host-ipv6-loopback": sent("101", "101", host="http://[::1]:{port}", bind="::1"),
    "host-empty": rejected("host", host=""),
    "host-other-scheme": rejected("scheme", host="ftp://127.0.0.1:{port}"),
    "host-doubled-scheme": rejected("repeats its scheme", host="http://http://127.0.0.1:{port}"),
    "host-doubled-https": rejected("repeats its scheme", host="https://https://a.pinecone.io"),
    "host-path": rejected("path", host="{url}/bulk/imports"),
    "host-query": rejected("query", host="{url}?limit=1"),
    "host-fragment": rejected("fragment", host="{url}#top"),
    "host-credentials": rejected("credentials", host="http://alice:hunter2@127.0.0.1:{port}"),
    "host-port-zero": rejected("port", host="http://127.0.0.1:0"),
    "host-port-too-large": rejected("port", host="http://127.0.0.1:99999"),
    "host-port-not-number": rejected("port", host="http://127.0.0.1:http"),
    "host-port-superscript-digit": rejected("port", host="http://127.0.0.1:\u00b2"),
    "host-port-missing": rejected("port", host="http://127.0.0.1:"),
    "host-ipv6-without-brackets": rejected("IPv6", host="http://::1:{port}"),
    "host-ipv6-unclosed": rejected("'['", host="http://[::1"),
    "host-ipv6-invalid": rejected("IPv6", host="http://[fffff::1]:{port}"),
    "host-index-name": rejected("--index quickstart", host="quickstart"),
    "host-http-remote": rejected("clear text", host="http://example.com"),
    "host-inner-space": rejected("whitespace", host="127.0.0.1 :{port}"),
    "host-nul": rejected("control character", host="{url}\x00"),
    "host-underscore": rejected("host name", host="my_index.svc.pinecone.io"),
    "host-unicode": rejected("host name", host="pinecöne.io"),
    "host-is-api-key": rejected("host", host=API_KEY),
    # API keys: surrounding whitespace is a copy-and-paste artefact and is removed.
    "key-surrounding-whitespace": sent("101", "101", api_key=f"  {API_KEY}\n"),
    "key-trailing-crlf": sent("101", "101", api_key=f"{API_KEY}\r\n"),
    "key-empty": rejected("API key is empty", api_key=""),
    "key-only-whitespace": rejected("API key is empty", api_key=" \n"),
    "key-non-ascii": rejected("non-ASCII", api_key=f"{API_KEY}é"),
    "key-inner-space": rejected("whitespace", api_key="pcsk_abc def"),
    "key-header-injection": rejected("control character", api_key=f"{API_KEY}\r\nX-Evil: 1"),
}


def _emulator_for(case: Case, emulator: Emulator) -> Iterator[Emulator]:
    if case.bind == emulator.bind:
        yield emulator
        return
    with Emulator(api_key=API_KEY, bind=case.bind) as other:
        yield other


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_input(case: Case, emulator: Emulator) -> None:
    for target in _emulator_for(case, emulator):
        host = case.host.format(url=target.url, port=target.port)

        if case.sent_id is None:
            _check_rejected(case, target, host)
        else:
            _check_sent(case, target, host)


def _check_rejected(case: Case, target: Emulator, host: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        cancel_import(case.import_id, host=host, api_key=case.api_key)

    message = str(caught.value)
    assert case.field in message, message
    assert message.endswith("."), message
    assert ". " not in message.replace("e.g. ", ""), f"more than one sentence: {message}"
    assert API_KEY not in message, "the message shows the API key"
    assert "hunter2" not in message, "the message shows a password from the host"
    assert target.requests == [], "a rejected input sent a request"


def _check_sent(case: Case, target: Emulator, host: str) -> None:
    assert case.sent_id is not None
    target.add_import(id=case.sent_id)

    result = cancel_import(case.import_id, host=host, api_key=case.api_key)

    [request] = target.requests
    assert result.import_id == case.sent_id
    assert request.method == "DELETE"
    assert request.raw_path == f"/bulk/imports/{case.raw_segment}"
    assert request.path == f"/bulk/imports/{case.sent_id}"
    assert request.header_values("Api-Key") == [API_KEY]


def test_hostile_case_count() -> None:
    assert len(CASES) >= 40


# Magic lines, through a real IPython shell


@dataclass(frozen=True)
class MagicCase:
    """A magic line; `sent_path` is the raw path it must DELETE, or None when rejected."""

    line: str
    sent_path: str | None = None
    message: str = ""


MAGIC_CASES: dict[str, Any] = {
    "double-quoted-id": MagicCase('"101"', sent_path="/bulk/imports/101"),
    "single-quoted-space": MagicCase("'a b'", sent_path="/bulk/imports/a%20b"),
    "escaped-space": MagicCase("a\\ b", sent_path="/bulk/imports/a%20b"),
    "dot-segment": MagicCase("a/../b", sent_path="/bulk/imports/a%2F..%2Fb"),
    "variable-with-slash": MagicCase("$hostile", sent_path="/bulk/imports/a%2Fb"),
    "quoted-host": MagicCase('101 --host "{url}"', sent_path="/bulk/imports/101"),
    "negative-looking-id": MagicCase("-5", sent_path="/bulk/imports/-5"),
    "undefined-dollar": MagicCase("$undefined", message="undefined variable"),
    "undefined-braces": MagicCase("{undefined}", message="undefined variable"),
    "unclosed-quote": MagicCase('"101', message="closing quotation"),
    "unknown-option": MagicCase("101 --bogus", message="--bogus"),
    "api-key-option": MagicCase(f"101 --api-key {API_KEY}", message="PINECONE_API_KEY"),
    "option-without-value": MagicCase("101 --host", message="--host"),
    "timeout-not-number": MagicCase("101 --timeout abc", message="Timeout"),
    "timeout-negative": MagicCase("101 --timeout -1", message="Timeout"),
    "host-with-path": MagicCase("101 --host {url}/bulk", message="path"),
    "host-and-index": MagicCase("101 --host {url} --index quickstart", message="only one"),
    "control-character-id": MagicCase('"$with_newline"', message="control character"),
}


@pytest.mark.parametrize("case", MAGIC_CASES.values(), ids=MAGIC_CASES.keys())
def test_hostile_magic_line(case: MagicCase, shell: Any, configured: Emulator) -> None:
    shell.user_ns.update(hostile="a/b", with_newline="10\n1")
    line = case.line.replace("{url}", configured.url)
    for path in (f"/bulk/imports/{name}" for name in ("101", "a b", "a/../b", "a/b", "-5")):
        configured.add_import(id=path.removeprefix("/bulk/imports/"))

    try:
        if case.sent_path is None:
            with pytest.raises(UsageError) as caught:
                shell.run_line_magic("pc_cancel_import", line)
            assert case.message in str(caught.value), str(caught.value)
            assert API_KEY not in str(caught.value), "the message shows the API key"
            assert configured.requests == [], "a rejected line sent a request"
        else:
            shell.run_line_magic("pc_cancel_import", line)
            assert [(r.method, r.raw_path) for r in configured.requests] == [
                ("DELETE", case.sent_path)
            ]
    finally:
        for name in ("hostile", "with_newline"):
            shell.user_ns.pop(name, None)


def test_magic_unquoted_variable_splits_on_whitespace(shell: Any, configured: Emulator) -> None:
    shell.user_ns["two_ids"] = "101 102"
    configured.add_imports(2)

    try:
        shell.run_line_magic("pc_cancel_import", "$two_ids")
        shell.run_line_magic("pc_cancel_import", '"$two_ids"')
    except NotFoundError:
        pass
    finally:
        shell.user_ns.pop("two_ids", None)

    paths = [request.raw_path for request in configured.requests if request.method == "DELETE"]
    assert sorted(paths[:2]) == ["/bulk/imports/101", "/bulk/imports/102"], "unquoted: two ids"
    assert paths[2:] == ["/bulk/imports/101%20102"], "quoted: one id"


def test_hostile_magic_case_count() -> None:
    assert len(MAGIC_CASES) >= 15


# Property: every accepted id reaches the emulator unchanged, in one path segment


@pytest.fixture(scope="module")
def property_emulator() -> Iterator[Emulator]:
    """One emulator for every example of the property test."""
    with Emulator(api_key=API_KEY) as emu:
        yield emu


def _accepted(text: str) -> bool:
    try:
        validate_import_id(text)
    except InvalidInputError:
        return False
    return True


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(text=st.text(min_size=1, max_size=60).filter(_accepted))
def test_accepted_id_reaches_emulator_unchanged(
    text: str, property_emulator: Emulator
) -> None:
    expected = text.strip()
    property_emulator.reset_requests()

    with pytest.raises(NotFoundError):
        describe_import(text, host=property_emulator.url, api_key=API_KEY)

    [request] = property_emulator.requests
    prefix = "/bulk/imports/"
    segment = request.raw_path.removeprefix(prefix)
    assert request.raw_path.startswith(prefix)
    assert "/" not in segment, f"{text!r} was sent as several path segments"
    assert request.path == prefix + expected, f"{text!r} changed on the way"
    assert request.method == "GET"
