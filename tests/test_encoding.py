"""Tests for Claude Code's project-dir encoding (``agent.paths.encode_project_path``)."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_sync.agent.paths import ENCODED_NAME_LIMIT, encode_project_path, encoded_names_match

ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        ("/Users/me/.config/my_app", "-Users-me--config-my-app"),
        ("/workspaces/repo", "-workspaces-repo"),
        ("C:\\git\\x", "C--git-x"),
        ("/a/b-c", "-a-b-c"),
        ("/a/b/c", "-a-b-c"),
        ("/home/me/src/Repo_2 (copy)", "-home-me-src-Repo-2--copy-"),
        ("", ""),
    ],
)
def test_examples_from_the_facts(path: str, encoded: str) -> None:
    assert encode_project_path(path, resolve=False) == encoded


def test_no_collapsing_of_runs() -> None:
    assert encode_project_path("/x//..//y", resolve=False) == "-x------y"


def test_resolve_applies_realpath_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real_project"
    real.mkdir()
    link = tmp_path / "link.to.project"
    link.symlink_to(real, target_is_directory=True)
    expected = encode_project_path(os.path.realpath(real), resolve=False)
    assert encode_project_path(str(link)) == expected
    assert encode_project_path(str(link), resolve=True) == expected
    assert expected.endswith("-real-project")
    # Without resolving, the link's own name is encoded.
    assert encode_project_path(str(link), resolve=False).endswith("-link-to-project")


def test_resolve_normalises_dot_dot(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    messy = str(tmp_path / "a" / ".." / "b")
    assert encode_project_path(messy) == encode_project_path(
        os.path.realpath(tmp_path / "b"), resolve=False
    )


def test_nfc_decomposed_e_acute_is_one_dash() -> None:
    composed = "/home/me/caf\u00e9"
    decomposed = "/home/me/cafe\u0301"
    assert unicodedata.normalize("NFC", decomposed) == composed
    assert encode_project_path(decomposed, resolve=False) == "-home-me-caf-"
    assert encode_project_path(composed, resolve=False) == "-home-me-caf-"


def test_non_bmp_character_gives_two_dashes() -> None:
    assert encode_project_path("/x/\U0001f600/y", resolve=False) == "-x----y"
    assert encode_project_path("\U0001f600", resolve=False) == "--"


def test_non_ascii_letters_and_digits_are_replaced() -> None:
    # Unicode letters/digits are alphanumeric for Python, but not in [A-Za-z0-9].
    assert encode_project_path("/\u00fcber/\u0663\u00b2", resolve=False) == "--ber---"


def test_long_path_is_cut_to_200() -> None:
    path = "/" + "a" * 300
    encoded = encode_project_path(path, resolve=False)
    assert len(encoded) == ENCODED_NAME_LIMIT == 200
    assert encoded == "-" + "a" * 199


def test_path_of_exactly_200_is_not_cut() -> None:
    path = "/" + "b" * 199
    assert encode_project_path(path, resolve=False) == "-" + "b" * 199


def test_cut_happens_inside_a_non_bmp_pair() -> None:
    path = "/" + "c" * 198 + "\U0001f600" + "d"
    encoded = encode_project_path(path, resolve=False)
    assert encoded == "-" + "c" * 198 + "-"


def test_names_match_exactly() -> None:
    assert encoded_names_match("-workspaces-repo", "-workspaces-repo")
    assert not encoded_names_match("-workspaces-repo", "-workspaces-rep")


def test_short_names_never_match_by_prefix_or_suffix() -> None:
    encoded = "-workspaces-repo"
    assert not encoded_names_match("-workspaces-repo-abc123", encoded)
    assert not encoded_names_match("-home-me-workspaces-repo", encoded)
    assert not encoded_names_match("x-workspaces-repo", encoded)
    assert not encoded_names_match("-workspaces-repo2", encoded)


def test_cut_name_matches_with_any_hash() -> None:
    encoded = encode_project_path("/" + "p" * 250, resolve=False)
    assert len(encoded) == 200
    assert encoded_names_match(encoded + "-1a2b3c", encoded)
    assert encoded_names_match(encoded + "-zzzzzzzz", encoded)
    assert encoded_names_match(encoded, encoded)


def test_cut_name_needs_the_dash_and_the_whole_prefix() -> None:
    encoded = encode_project_path("/" + "p" * 250, resolve=False)
    assert not encoded_names_match(encoded + "x1a2b3c", encoded)
    assert not encoded_names_match(encoded[:-1] + "-1a2b3c", encoded)
    assert not encoded_names_match(encoded[:199], encoded)
    assert not encoded_names_match("-other" + encoded + "-1a2b", encoded)


def test_cut_name_never_matches_by_suffix() -> None:
    encoded = encode_project_path("/" + "q" * 250, resolve=False)
    assert not encoded_names_match("-prefix" + encoded, encoded)


short_text = st.lists(
    st.one_of(
        st.characters(),
        st.sampled_from("/._- aZ09"),
        st.sampled_from(["\u00e9", "e\u0301", "\U0001f600", "\u2028", "\u0663"]),
    ),
    max_size=60,
).map("".join)
path_text = st.one_of(
    short_text,
    # Long paths, so that the 200-character cut falls anywhere (inside a pair too).
    st.builds(
        lambda head, tail: head + tail,
        st.text(alphabet="/abcXYZ019._-\U0001f600\u00e9", min_size=140, max_size=230),
        short_text,
    ),
)


@settings(max_examples=200, deadline=None)
@given(path_text)
def test_property_alphabet_length_and_positions(path: str) -> None:
    encoded = encode_project_path(path, resolve=False)
    assert set(encoded) <= ALLOWED
    nfc = unicodedata.normalize("NFC", path)
    assert len(encoded) == min(ENCODED_NAME_LIMIT, _utf16_units(nfc))
    # Walk NFC(path) by UTF-16 offset: ASCII alnum stays in place, all else is dashes.
    pos = 0
    for ch in nfc:
        width = 2 if ord(ch) > 0xFFFF else 1
        for k in range(pos, min(pos + width, len(encoded))):
            if ch.isascii() and ch.isalnum():
                assert encoded[k] == ch
            else:
                assert encoded[k] == "-"
        pos += width


@settings(max_examples=150, deadline=None)
@given(path_text)
def test_property_nfc_forms_encode_alike(path: str) -> None:
    nfc = unicodedata.normalize("NFC", path)
    nfd = unicodedata.normalize("NFD", path)
    assert encode_project_path(nfd, resolve=False) == encode_project_path(nfc, resolve=False)


@settings(max_examples=150, deadline=None)
@given(path_text)
def test_property_name_matches_its_own_encoding(path: str) -> None:
    encoded = encode_project_path(path, resolve=False)
    assert encoded_names_match(encoded, encoded)
    if len(encoded) == ENCODED_NAME_LIMIT:
        assert encoded_names_match(encoded + "-h4sh", encoded)
    else:
        assert not encoded_names_match(encoded + "-h4sh", encoded)
