"""playbooks/filter_plugins/extravar_lists.py: lists given with -e, as restart.yml and
remove-node.yml read them."""

from __future__ import annotations

import pytest

from infra.paths import PROJECT_DIR
from tests.support.plugins import load_module

pytestmark = pytest.mark.unit

plugin = load_module(PROJECT_DIR / "playbooks" / "filter_plugins" / "extravar_lists.py")


@pytest.mark.parametrize(("given", "expected"), [
    (None, []),
    ("", []),
    ("node-4", ["node-4"]),
    (" kafka, cassandra ,,spark ", ["kafka", "cassandra", "spark"]),
    (["node-4", "node-5"], ["node-4", "node-5"]),
    ([], []),
])
def test_a_comma_string_or_a_list_reads_as_a_list(given: object, expected: list[str]) -> None:
    assert plugin.smack_name_list(given) == expected
    assert plugin.FilterModule().filters()["smack_name_list"] is plugin.smack_name_list
