"""The upgrade policy (roles/upgrade_policy): which release jumps one rolling upgrade may make.

The filter plugin is checked on many version pairs for both rules, the role's rule table is
checked against the release lines the stack settings accept, and the filter is run once the way
the role runs it (mapped over the releases in use inside Ansible's templating).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.config import Services
from infra.paths import PROJECT_DIR
from tests.support.plugins import load_module

pytestmark = pytest.mark.unit

ROLE = PROJECT_DIR / "roles" / "upgrade_policy"
PLUGIN_PATH = ROLE / "filter_plugins" / "upgrade_policy.py"


policy = load_module(PLUGIN_PATH)

ALLOWED = [
    # (installed, requested, rule, step)
    ("5.0.6", "5.0.6", "patch", "none"),
    ("5.0.5", "5.0.6", "patch", "patch"),
    ("5.0.0", "5.0.12", "patch", "patch"),
    ("3.9.2", "3.9.5", "patch", "patch"),
    ("3.5.8", "3.5.10", "patch", "patch"),  # numbers, not strings: 10 > 8
    ("4.1.1", "4.1.1", "minor", "none"),
    ("4.1.1", "4.1.2", "minor", "patch"),
    ("4.0.2", "4.1.1", "minor", "minor"),
    ("4.0.0", "4.1.0", "minor", "minor"),
    ("4.1.2", "4.2.0", "minor", "minor"),  # the next minor from a later patch: any of its releases
    ("4.9.0", "4.10.3", "minor", "minor"),
]

REFUSED = [
    # (installed, requested, rule, step, words the reason must contain)
    ("5.0.6", "5.0.5", "patch", "downgrade", "downgrade"),
    ("5.0.6", "4.1.9", "patch", "downgrade", "downgrade"),  # Cassandra 5.0 -> 4.1
    ("5.0.6", "5.1.0", "patch", "minor", "minor upgrade (5.0 to 5.1)"),
    ("5.0.6", "6.0.0", "patch", "major", "major upgrade (5.x to 6.x)"),
    ("3.9.5", "3.10.0", "patch", "minor", "minor upgrade"),
    ("3.5.10", "3.5.8", "patch", "downgrade", "downgrade"),
    ("4.1.1", "4.1.0", "minor", "downgrade", "downgrade"),
    ("4.1.1", "4.0.9", "minor", "downgrade", "downgrade"),
    ("4.1.1", "3.9.1", "minor", "downgrade", "downgrade"),  # Kafka 4 -> 3.9
    ("4.0.2", "4.2.0", "minor", "minor", "skips 1 minor release(s)"),
    ("4.0.2", "4.4.0", "minor", "minor", "skips 3 minor release(s)"),
    ("4.4.0", "5.0.0", "minor", "major", "major upgrade (4.x to 5.x)"),
    ("3.9.1", "4.0.0", "minor", "major", "major upgrade"),
    ("4.1.1", "4.1", "minor", "unknown", "'4.1' is not a plain major.minor.patch"),
    ("4.1.1", "4.1.2-rc1", "minor", "unknown", "not a plain"),
    ("4.1.1", "", "minor", "unknown", "not a plain"),
    ("unknown", "4.1.2", "minor", "unknown", "installed release 'unknown'"),
]


@pytest.mark.parametrize(("installed", "requested", "rule", "step"), ALLOWED)
def test_allowed_jumps(installed: str, requested: str, rule: str, step: str) -> None:
    verdict = policy.verdict(installed, requested, rule, "svc")
    assert verdict == {"allowed": True, "step": step, "message": verdict["message"]}
    assert verdict["message"].startswith(f"svc {installed} -> {requested}: ")


@pytest.mark.parametrize(("installed", "requested", "rule", "step", "reason"), REFUSED)
def test_refused_jumps_say_what_and_what_is_allowed(installed: str, requested: str, rule: str,
                                                    step: str, reason: str) -> None:
    verdict = policy.verdict(installed, requested, rule, "svc")
    assert not verdict["allowed"]
    assert verdict["step"] == step
    message = verdict["message"]
    assert message.startswith(f"svc {installed} is installed and {requested} was requested: ")
    assert reason in message
    assert f"allowed from {installed}: " in message


def test_allowed_text_names_the_releases_of_each_rule() -> None:
    assert policy.allowed_from("5.0.6", "patch") == (
        "5.0.6 (no change) or a later 5.0.x patch release (patch releases only)")
    assert policy.allowed_from("4.0.2", "minor") == (
        "4.0.2 (no change), a later 4.0.x patch release or any 4.1.x release "
        "(one minor release at a time)")
    assert "not a plain" not in policy.allowed_from("x", "minor")
    assert policy.allowed_from("x", "minor") == "nothing until the installed release is known"


def test_a_refusal_reads_as_one_sentence() -> None:
    message = policy.verdict("5.0.6", "4.1.9", "patch", "cassandra")["message"]
    assert message == (
        "cassandra 5.0.6 is installed and 4.1.9 was requested: a downgrade is refused (data "
        "written by a newer release may not be readable by an older one); allowed from 5.0.6: "
        "5.0.6 (no change) or a later 5.0.x patch release (patch releases only)")


def test_whitespace_around_versions_is_ignored() -> None:
    assert policy.verdict(" 4.1.1\n", "4.1.2", "minor")["allowed"]


def test_an_unknown_rule_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="rule 'major' for kafka"):
        policy.verdict("4.1.1", "5.0.0", "major", "kafka")


def test_the_plugin_registers_the_filter() -> None:
    assert policy.FilterModule().filters() == {"upgrade_policy_verdict": policy.verdict}


def test_rules_cover_each_bundled_service_and_match_its_release_line() -> None:
    rules = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_upgrade_policy_rules"]
    assert rules == {"zookeeper": "patch", "kafka": "minor", "cassandra": "patch",
                     "spark": "patch"}
    # The rule must fit the line the stack settings accept: a patch-only service is pinned to
    # one major.minor, Kafka to one major.
    lines = {name: type(getattr(Services(), name)).model_fields["version"].metadata
             for name in rules}
    patterns = {name: next(m.pattern for m in meta if hasattr(m, "pattern"))
                for name, meta in lines.items()}
    assert patterns == {"zookeeper": r"^3\.9\.\d+$", "kafka": r"^4\.\d+\.\d+$",
                        "cassandra": r"^5\.0\.\d+$", "spark": r"^3\.5\.\d+$"}


def test_choices_in_the_argument_specs_are_the_services_with_rules() -> None:
    rules = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_upgrade_policy_rules"]
    units = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_upgrade_policy_units"]
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for name in ("main", "verify"):
        assert specs[name]["options"]["upgrade_policy_service"]["choices"] == list(rules)
    assert list(units) == list(rules)


def test_the_filter_runs_inside_ansible_as_the_role_maps_it(tmp_path: Path) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"in_use": ["4.0.2", "4.1.1"]},
        "tasks": [{"ansible.builtin.debug": {
            "msg": "{{ in_use | map('upgrade_policy_verdict', '4.2.0', 'minor', 'kafka') | list "
                   "| to_json }}"}}],
    }]))
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        capture_output=True, text=True, check=False, timeout=120,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
             "ANSIBLE_FILTER_PLUGINS": str(PLUGIN_PATH.parent),
             "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_LOCALHOST_WARNING": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    verdicts = json.loads(result["msg"]) if isinstance(result["msg"], str) else result["msg"]
    assert [(v["allowed"], v["step"]) for v in verdicts] == [(False, "minor"), (True, "minor")]
    assert "skips 1 minor release(s)" in verdicts[0]["message"]


def run_gate(tmp_path: Path, installed: dict[str, str], named: dict[str, str]
             ) -> subprocess.CompletedProcess[str]:
    """Run the role's gate.yml on this machine, with releases 'installed' under tmp_path."""
    root = tmp_path / "opt"
    for service, version in installed.items():
        release = root / service / f"{service}-{version}"
        release.mkdir(parents=True)
        (release / ".smack-installed").write_text(f"{service} {version} {release.name}\n")
        (root / service / "current").symlink_to(release)
    inventory = tmp_path / "hosts.yml"
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            **{f"{service}_version": version for service, version in named.items()}}
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        service: {"hosts": {"node-1": host}} for service in named}}}))
    playbook = tmp_path / "gate.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "all", "gather_facts": False,
        "tasks": [{"ansible.builtin.include_role": {"name": "upgrade_policy",
                                                    "tasks_from": "gate"},
                   "vars": {"upgrade_policy_artifact_root": str(root)}}]}]))
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        capture_output=True, text=True, check=False, timeout=120,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
             "ANSIBLE_ROLES_PATH": str(PROJECT_DIR / "roles"),
             "ANSIBLE_LOCALHOST_WARNING": "0"})


def test_the_converge_gate_passes_first_installs_and_allowed_steps(tmp_path: Path) -> None:
    # Cassandra and Spark not installed yet (first install); Kafka one minor up, allowed.
    proc = run_gate(tmp_path, {"kafka": "4.0.2"},
                    {"kafka": "4.1.1", "cassandra": "5.0.6", "spark": "3.5.7"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_converge_gate_refuses_what_upgrade_yml_refuses(tmp_path: Path) -> None:
    proc = run_gate(tmp_path, {"kafka": "4.1.1", "cassandra": "5.0.6", "zookeeper": "3.9.4"},
                    {"kafka": "4.0.2", "cassandra": "5.0.6", "zookeeper": "3.10.0"})
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())  # the message as one line, however it was wrapped
    assert "node-1: zookeeper 3.9.4 is installed and 3.10.0 was requested: a minor upgrade" in out
    assert "; kafka 4.1.1 is installed and 4.0.2 was requested: a downgrade is refused" in out
    assert "cassandra 5.0.6" not in out  # unchanged: no verdict against it
    assert "move one allowed step at a time with playbooks/upgrade.yml" in out
