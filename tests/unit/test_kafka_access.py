"""Kafka principals: which exist for a stack, their passwords, and the ACL calls the kafka role
makes (its filter plugin, loaded from the role)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import parse_settings
from infra.credentials import complete, ensure_credentials, incomplete
from infra.errors import SettingsError
from infra.kafka_access import principals
from infra.paths import PROJECT_DIR
from tests.unit.test_config import local

pytestmark = pytest.mark.unit

PLUGIN = PROJECT_DIR / "roles" / "kafka" / "filter_plugins" / "kafka_acls.py"


def plugin() -> dict[str, Any]:
    scope: dict[str, Any] = {}
    exec(compile(PLUGIN.read_text(), str(PLUGIN), "exec"), scope)  # noqa: S102 - the role's plugin
    return dict(scope["FilterModule"]().filters())


# As `kafka-acls --list` prints it (with its trailing blanks and mixed indentation).
LISTING = "\n".join([
    "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=iot., "
    "patternType=PREFIXED)`: ",
    " \t(principal=User:iot, host=*, operation=WRITE, permissionType=ALLOW)",
    "\t(principal=User:iot, host=*, operation=ALTER, permissionType=ALLOW)",
    "\t(principal=User:someone, host=*, operation=READ, permissionType=ALLOW)",
    "",
    "Current ACLs for resource `ResourcePattern(resourceType=GROUP, name=old, "
    "patternType=LITERAL)`: ",
    " \t(principal=User:gone, host=*, operation=READ, permissionType=ALLOW)",
])


def test_declared_rights_become_bindings_with_prefixes_and_literals() -> None:
    f = plugin()
    bindings = f["kafka_acl_bindings"]({"iot": {"produce": ["iot.*"], "consume": ["*"],
                                                "groups": ["g"]}})
    seen = {(b["resource_type"], b["name"], b["pattern"], b["operation"]) for b in bindings}
    assert seen == {("TOPIC", "iot.", "PREFIXED", "WRITE"),
                    ("TOPIC", "iot.", "PREFIXED", "DESCRIBE"),
                    ("TOPIC", "*", "LITERAL", "READ"), ("TOPIC", "*", "LITERAL", "DESCRIBE"),
                    ("GROUP", "g", "LITERAL", "READ")}
    assert {b["principal"] for b in bindings} == {"User:iot"}


def test_changes_add_the_missing_remove_the_extra_and_leave_strangers_alone() -> None:
    f = plugin()
    current = f["kafka_acl_listing"](LISTING)
    assert len(current) == 4
    desired = f["kafka_acl_bindings"]({"iot": {"produce": ["iot.*"], "consume": [], "groups": []}})
    plan = f["kafka_acl_changes"](current, desired, ["iot", "gone"])
    assert [(c["principal"], c["name"], c["operations"]) for c in plan["add"]] == [
        ("User:iot", "iot.", ["DESCRIBE"])]
    assert sorted((c["principal"], c["name"], tuple(c["operations"])) for c in plan["remove"]) == [
        ("User:gone", "old", ("READ",)), ("User:iot", "iot.", ("ALTER",))]
    # Applied, nothing is left to do.
    after = [b for b in current if b["principal"] != "User:gone" and b["operation"] != "ALTER"]
    after += [b for b in desired if b["operation"] == "DESCRIBE"]
    assert f["kafka_acl_changes"](after, desired, ["iot"]) == {"add": [], "remove": []}


def test_one_kafka_acls_call_per_principal_and_resource() -> None:
    f = plugin()
    [change] = f["kafka_acl_changes"](
        [], f["kafka_acl_bindings"]({"iot": {"produce": ["iot.*"], "consume": ["iot.*"],
                                              "groups": []}}), ["iot"])["add"]
    assert f["kafka_acl_argv"](change, "add") == [
        "--add", "--allow-principal", "User:iot", "--allow-host", "*", "--topic", "iot.",
        "--resource-pattern-type", "prefixed", "--operation", "DESCRIBE", "--operation", "READ",
        "--operation", "WRITE"]
    assert f["kafka_acl_argv"](change, "remove")[:2] == ["--remove", "--force"]


def test_principals_are_the_declared_the_pipelines_and_verify_s_own() -> None:
    settings = parse_settings("unit", local(
        pipelines=["iot"], services={"kafka": {"principals": {"billing": {"consume": ["bills"]}}},
                                     "spark": {"worker_memory_mb": 1024}}))
    found = principals(settings)
    assert sorted(found) == ["billing", "iot", "smack-verify"]
    assert found["billing"]["groups"] == ["billing*"]  # consumers get their own groups
    assert found["iot"]["produce"] == ["iot.*"]
    assert principals(parse_settings("unit", local(services={"kafka": {"security": False}}))) == {}


@pytest.mark.parametrize(("kafka", "pipelines", "message"), [
    ({"principals": {"smack-admin": {}}}, [],
     "smack:services.kafka.principals.smack-admin: the name is smack's own"),
    ({"principals": {"iot": {}}}, ["iot"],
     "smack:services.kafka.principals.iot: pipeline 'iot' brings its own principal"),
    ({"security": False, "principals": {"app": {}}}, [],
     "smack:services.kafka.principals: declared, but smack:services.kafka.security is false"),
    ({"principals": {"app": {"produce": ["a b"]}}}, [],
     "smack:services.kafka.principals.app.produce[0]: 'a b' is not allowed"),
])
def test_principal_mistakes_name_the_key(kafka: dict[str, Any], pipelines: list[str],
                                         message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings("unit", local(pipelines=pipelines, services={
            "kafka": kafka, "spark": {"worker_memory_mb": 1024}}))
    assert message in str(caught.value), str(caught.value)


def test_passwords_follow_the_principals_and_stay(tmp_path: Path) -> None:
    path = tmp_path / "s" / "credentials.yml"
    first = ensure_credentials(path, kafka_principals=["a", "b"])
    assert sorted(first["kafka"]["principals"]) == ["a", "b"]
    assert first["kafka"]["admin"]["user"] == "smack-admin"
    again = ensure_credentials(path, kafka_principals=["a", "b", "c"])
    assert again["kafka"]["principals"]["a"] == first["kafka"]["principals"]["a"]
    assert again["kafka"]["admin"] == first["kafka"]["admin"]
    assert not incomplete(again, ["a", "b", "c"])
    assert incomplete(again, ["a"])  # b and c go
    assert sorted(complete(again, kafka_principals=["a"])["kafka"]["principals"]) == ["a"]
    assert path.stat().st_mode & 0o777 == 0o600
