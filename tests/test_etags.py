"""ETags of /v2 resources (fountain_common/etags.py): the revision as a strong tag, and If-Match."""

import pytest

from fountain_common.etags import check_etag, etag
from fountain_common.problems import Problem

ROW = {"revision": 3, "title": "Hamlet"}


def test_the_etag_is_the_quoted_revision() -> None:
    assert etag(ROW) == '"3"'
    assert etag({"revision": 12}) == '"12"'


@pytest.mark.parametrize("if_match", [None, "*", " * ", '"3"', 'W/"3"', '"1", "3"', ' "1" ,W/"3" '])
def test_if_match_absent_any_or_listing_the_current_tag_passes(if_match: str | None) -> None:
    check_etag(ROW, if_match)


@pytest.mark.parametrize("if_match", ['"2"', '"33"', "3", '"3', 'W/"2", "4"', "", '"*"', '*, "2"'])
def test_any_other_if_match_is_412_naming_the_current_tag(if_match: str) -> None:
    with pytest.raises(Problem) as refused:
        check_etag(ROW, if_match, what="Script 9")
    assert (refused.value.status, refused.value.kind) == (412, "precondition-failed")
    assert refused.value.detail == 'Script 9 changed since it was read: its ETag is now "3".'


def test_the_resource_is_named_resource_unless_told() -> None:
    with pytest.raises(Problem) as refused:
        check_etag(ROW, '"2"')
    assert refused.value.detail == 'Resource changed since it was read: its ETag is now "3".'
