"""Spark (and Marathon) on Mesos: the Java-bindings check and the spark role's configuration.

roles/common/files/mesos_jni_symbols.py runs against the stand-in's libraries
(tests/standins/build.py, build_java.py: libmesos.so without the Java_org_apache_mesos_* entry
points, like the real clusterd build, and libmesos-java.so with them), an ELF that only
references such a symbol, ELFs without section headers, a non-ELF file and a missing one. The
common role's mesos_native_library.yml (which the marathon and spark roles include) and the
spark role's credential check run in check mode through ansible-playbook on local "hosts",
one per case. The templates are rendered with Ansible's own Templar from the role's defaults
and vars/main.yml and a three-node inventory.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from infra.paths import PROJECT_DIR
from tests.standins.build import build_libmesos
from tests.standins.build_java import build_libmesos_java

pytestmark = pytest.mark.unit

ROLE = PROJECT_DIR / "roles" / "spark"
SCRIPT = PROJECT_DIR / "roles" / "common" / "files" / "mesos_jni_symbols.py"
INITIALIZE = "Java_org_apache_mesos_MesosSchedulerDriver_initialize"
VERSION = "Java_org_apache_mesos_MesosNativeLibrary__1version"
# Defined JNI names, for an ELF linked with SysV hashes only (DT_HASH instead of DT_GNU_HASH).
SYSV_SOURCE = f"""
__attribute__((visibility("default"))) void {INITIALIZE}(void) {{}}
__attribute__((visibility("default"))) void {VERSION}(void) {{}}
"""
# A library that calls the scheduler's initialize() without defining it: an undefined reference.
UNDEFINED_SOURCE = f"""
void {INITIALIZE}(void *env, void *self);
void smack_calls_initialize(void) {{ {INITIALIZE}(0, 0); }}
"""
ADDRESSES = {"spark-1": "198.18.0.11", "spark-2": "198.18.0.12", "spark-3": "198.18.0.13"}
ZK_URL = "zk://198.18.0.11:2181,198.18.0.12:2181,198.18.0.13:2181/mesos"
SECRET = "s3cret-value-never-rendered"  # noqa: S105 -- a test value that must not leak


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def gcc(*args: str) -> None:
    subprocess.run(["gcc", *args], check=True, capture_output=True, timeout=60)


def strip_section_headers(source: Path, dest: Path) -> Path:
    """A copy of a 64-bit little-endian ELF whose section headers are gone (e_shoff, e_shnum)."""
    data = bytearray(source.read_bytes())
    assert data[4] == 2 and data[5] == 1, "expected ELFCLASS64, little endian"
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff
    struct.pack_into("<HH", data, 0x3C, 0, 0)  # e_shnum, e_shstrndx
    dest.write_bytes(bytes(data))
    return dest


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("libmesos")
    (base / "jni").mkdir()
    (base / "plain").mkdir()
    jni = build_libmesos_java(base / "jni")
    plain = build_libmesos(base / "plain")
    (base / "jni" / "libmesos-java.so").symlink_to(jni.name)
    source = base / "undefined.c"
    source.write_text(UNDEFINED_SOURCE)
    undefined = base / "libundefined.so"
    gcc("-shared", "-fPIC", "-o", str(undefined), str(source))
    sysv_source = base / "sysv.c"
    sysv_source.write_text(SYSV_SOURCE)
    sysv = base / "libmesos-sysv.so"
    gcc(
        "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-Wl,--hash-style=sysv",
        "-o", str(sysv), str(sysv_source),
    )  # fmt: skip
    text = base / "libmesos-text.so"
    text.write_text("INPUT(-lmesos)\n")  # a linker script, as some -dev packages ship
    truncated = base / "libmesos-truncated.so"
    truncated.write_bytes(jni.read_bytes()[:80])
    return {
        "jni": jni,
        "jni_link": base / "jni" / "libmesos-java.so",
        "plain": plain,
        "undefined": undefined,
        "gnu_no_sections": strip_section_headers(jni, base / "libmesos-gnu-nosh.so"),
        "sysv": sysv,
        "sysv_no_sections": strip_section_headers(sysv, base / "libmesos-sysv-nosh.so"),
        "text": text,
        "truncated": truncated,
        "missing": base / "absent" / "libmesos.so",
    }


def nm_defined(lib: Path) -> list[str]:
    """binutils' answer, to compare the script with (gcc, which builds the libraries, brings nm)."""
    out = subprocess.run(
        ["nm", "-D", "--defined-only", "--format=posix", str(lib)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return sorted(
        line.split()[0] for line in out.splitlines() if line.startswith("Java_org_apache_mesos_")
    )


# --- mesos_jni_symbols.py -----------------------------------------------------------------


def test_a_library_with_java_bindings_lists_them(libs: dict[str, Path]) -> None:
    result = run_script(libs["jni"])
    assert result.returncode == 0, result.stderr
    assert {INITIALIZE, VERSION} <= set(result.stdout.splitlines())
    assert result.stdout.splitlines() == nm_defined(libs["jni"])
    assert result.stderr == ""


def test_a_symlink_is_followed(libs: dict[str, Path]) -> None:
    result = run_script(libs["jni_link"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == nm_defined(libs["jni"])


def test_a_library_without_java_bindings_is_the_failure_exit(libs: dict[str, Path]) -> None:
    result = run_script(libs["plain"])
    assert result.returncode == 1
    assert result.stdout == ""
    assert nm_defined(libs["plain"]) == []
    assert "defines a Java_org_apache_mesos_* function" in result.stderr
    assert "no Java (JNI) bindings" in result.stderr
    assert str(libs["plain"]) in result.stderr


def test_an_undefined_reference_does_not_count(libs: dict[str, Path]) -> None:
    undefined = subprocess.run(
        ["nm", "-D", "--undefined-only", str(libs["undefined"])],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert INITIALIZE in undefined  # the ELF really names the symbol, as a reference
    result = run_script(libs["undefined"])
    assert result.returncode == 1
    assert result.stdout == ""
    assert "(1 undefined references to such names)" in result.stderr


@pytest.mark.parametrize("lib", ["gnu_no_sections", "sysv_no_sections"])
def test_without_section_headers_the_dynamic_segment_is_read(
    libs: dict[str, Path], lib: str
) -> None:
    """PT_DYNAMIC: DT_SYMTAB and DT_STRTAB, sized by DT_GNU_HASH or DT_HASH."""
    result = run_script(libs[lib])
    assert result.returncode == 0, result.stderr
    source = libs["jni"] if lib == "gnu_no_sections" else libs["sysv"]
    assert result.stdout.splitlines() == nm_defined(source)
    assert {INITIALIZE, VERSION} <= set(result.stdout.splitlines())


def test_a_missing_file_is_a_clear_error(libs: dict[str, Path]) -> None:
    result = run_script(libs["missing"])
    assert result.returncode == 2
    assert result.stderr == f"{libs['missing']}: cannot read: No such file or directory\n"


def test_a_directory_is_a_clear_error(libs: dict[str, Path]) -> None:
    result = run_script(libs["missing"].parent.parent)
    assert result.returncode == 2
    assert "cannot read: Is a directory" in result.stderr


def test_a_non_elf_file_is_a_clear_error(libs: dict[str, Path]) -> None:
    result = run_script(libs["text"])
    assert result.returncode == 3
    assert result.stderr == f"{libs['text']}: not an ELF file (no \\x7fELF magic)\n"


def test_a_truncated_elf_is_a_clear_error(libs: dict[str, Path]) -> None:
    result = run_script(libs["truncated"])
    assert result.returncode == 3
    assert "truncated or malformed" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage() -> None:
    result = run_script()
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ")


def test_the_script_documents_its_exit_codes() -> None:
    doc = SCRIPT.read_text()
    for line in ("  0  at least one", "  1  an ELF shared object without", "  2  usage error",
                 "  3  LIBRARY is not an ELF file"):  # fmt: skip
        assert line in doc


# --- the roles' checks, run by Ansible ------------------------------------------------------


def test_json_mode_reports_every_library_in_order(libs: dict[str, Path]) -> None:
    result = run_script("--json", libs["missing"], libs["plain"], libs["jni_link"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report) == [str(libs["missing"]), str(libs["plain"]), str(libs["jni_link"])]
    assert [entry["exit"] for entry in report.values()] == [2, 1, 0]
    assert report[str(libs["jni_link"])]["symbols"] == nm_defined(libs["jni"])
    assert "no Java (JNI) bindings" in report[str(libs["plain"])]["message"]


def run_checks(tmp_path: Path, hosts: dict[str, dict[str, Any]]) -> tuple[dict[str, str], str]:
    """common's mesos_native_library.yml for `who` (and, for spark, the credential check) in
    --check mode on local hosts; host -> failure message, and the whole output."""
    for values in hosts.values():
        values["ansible_connection"] = "local"
    (tmp_path / "inventory.yml").write_text(json.dumps({"all": {"hosts": hosts}}))
    (tmp_path / "check.yml").write_text(
        json.dumps([{
            "name": "Check the Mesos native library",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {"name": "Run the spark role's credential check",
                 "ansible.builtin.include_role": {"name": "spark", "tasks_from": "validate_mesos"},
                 "when": "who == 'spark'"},
                {"name": "Find the library",
                 "ansible.builtin.include_role": {"name": "common",
                                                  "tasks_from": "mesos_native_library"},
                 "vars": {"common_mesos_native_library": "{{ library }}",
                          "common_mesos_native_library_for": "{{ who }}",
                          "common_mesos_package": "aventer-mesos"}},
                {"name": "Show the choice",
                 "ansible.builtin.debug": {"var": "common_mesos_native_library_found"}},
            ],
        }])
    )  # fmt: skip
    (tmp_path / "ansible.cfg").write_text(
        f"[defaults]\nroles_path = {ROLE.parent}\nstdout_callback = ansible.builtin.json\n"
        f"interpreter_python = {sys.executable}\ngathering = explicit\nforks = 8\n"
        "retry_files_enabled = false\n"
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")}
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    playbook = Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.run(
        [str(playbook), "--check", "-i", "inventory.yml", "check.yml"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    report = json.loads(run.stdout)
    failures: dict[str, str] = {}
    for task in report["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            if result.get("failed"):
                failures[host] = result.get("msg", "")
            if "common_mesos_native_library_found" in result:
                hosts[host]["found"] = result["common_mesos_native_library_found"]
    return failures, run.stdout + run.stderr


def test_the_roles_refuse_libraries_without_java_bindings(
    libs: dict[str, Path], tmp_path: Path
) -> None:
    hosts: dict[str, dict[str, Any]] = {
        "with-jni": {"who": "marathon", "library": str(libs["jni_link"])},
        "without-jni": {"who": "spark", "library": str(libs["plain"])},
        "undefined-only": {"who": "marathon", "library": str(libs["undefined"])},
        "missing": {"who": "spark", "library": str(libs["missing"])},
        "not-elf": {"who": "marathon", "library": str(libs["text"])},
        # None of the places a Mesos package puts it holds a library on this machine.
        "search": {"who": "marathon", "library": ""},
        "half-credential": {"who": "spark", "library": str(libs["jni"]),
                            "spark_mesos_credential": {"secret": SECRET}},
        "credential": {"who": "spark", "library": str(libs["jni"]),
                       "smack_credentials": {"mesos": {"spark": {"principal": "spark",
                                                                 "secret": SECRET}}}},
    }  # fmt: skip
    failures, output = run_checks(tmp_path, hosts)
    assert SECRET not in output
    assert set(failures) == set(hosts) - {"with-jni", "credential"}, failures
    assert hosts["with-jni"]["found"] == str(libs["jni_link"])
    assert hosts["credential"]["found"] == str(libs["jni"])

    for host in ("without-jni", "undefined-only", "missing", "not-elf", "search"):
        msg = failures[host]
        who = hosts[host]["who"]
        assert msg.startswith(f"{who} on {host}: no Mesos native library with the Java (JNI) "
                              f"bindings ({VERSION}, {INITIALIZE}), which {who} loads through "
                              "MESOS_NATIVE_JAVA_LIBRARY. Looked at: "), msg
        assert "The Mesos package (aventer-mesos) must ship them" in msg
        assert "/usr/lib/libmesos-java.so" in msg
        assert f"set {who}_mesos_native_library to a library that has them" in msg
    assert f"{libs['plain']}: none of its" in failures["without-jni"]
    assert "no Java (JNI) bindings" in failures["without-jni"]
    assert "(1 undefined references to such names)" in failures["undefined-only"]
    assert f"{libs['missing']}: cannot read: No such file or directory" in failures["missing"]
    assert "not an ELF file" in failures["not-elf"]
    for candidate in ("/usr/lib/libmesos-java.so", "/usr/lib/libmesos.so",
                      "/usr/local/lib/libmesos-java.so", "/usr/local/lib/libmesos.so"):
        assert f"{candidate} ({candidate}: cannot read" in failures["search"]
    assert "spark_mesos_credential must be {}" in failures["half-credential"]
    assert "with keys: secret." in failures["half-credential"]


# --- rendered configuration ----------------------------------------------------------------


def role_variables(host: str, **overrides: Any) -> dict[str, Any]:
    """Role defaults, then vars/main.yml, then a three-node converged inventory, then facts."""
    loader = DataLoader()
    variables: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        variables.update(
            loader.load_from_file(str(ROLE / part / "main.yml"), trusted_as_template=True)
        )
    hostvars = {
        name: {"inventory_hostname": name, "smack_node_address": address,
               "ansible_host": f"10.99.0.{address.rsplit('.', 1)[1]}"}
        for name, address in ADDRESSES.items()
    }  # fmt: skip
    variables.update(hostvars[host])
    variables.update(
        hostvars=hostvars,
        groups={"all": list(ADDRESSES), "zookeeper": list(ADDRESSES), "spark": list(ADDRESSES)},
        ansible_managed="Ansible managed",
        ansible_os_family="Debian",
        common_artifact_root="/opt/smack",
    )
    variables.update(overrides)
    return variables


def render(template: str, host: str = "spark-2", **overrides: Any) -> str:
    templar = Templar(loader=DataLoader(), variables=role_variables(host, **overrides))
    return str(templar.template(trust_as_template((ROLE / "templates" / template).read_text())))


def evaluate(expression: str, host: str = "spark-2", **overrides: Any) -> Any:
    templar = Templar(loader=DataLoader(), variables=role_variables(host, **overrides))
    return templar.template(trust_as_template("{{ " + expression + " }}"))


def settings(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split(" ", 1) for line in lines)


def env_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


MESOS = {
    "spark_cluster_manager": "mesos",
    "spark_mesos_credential": {"principal": "spark-framework", "secret": SECRET},
}


def test_mesos_mode_spark_defaults() -> None:
    text = render("spark-defaults.conf.j2", **MESOS)
    conf = settings(text)
    assert conf["spark.master"] == f"mesos://{ZK_URL}"
    assert conf["spark.mesos.executor.home"] == "/opt/smack/spark/spark-3.5.8-bin-hadoop3"
    assert conf["spark.submit.deployMode"] == "client"
    assert conf["spark.mesos.principal"] == "spark-framework"
    assert conf["spark.mesos.secret.file"] == "/etc/spark/mesos-secret"
    assert conf["spark.executorEnv.PYSPARK_PYTHON"] == "python3"
    assert conf["spark.pyspark.python"] == "python3"
    assert "spark.worker.cleanup.enabled" not in conf
    assert "spark.mesos.secret" not in conf
    assert SECRET not in text


FOUND = {"common_mesos_native_library_found": "/usr/lib/libmesos-java.so"}


def test_mesos_mode_spark_env() -> None:
    assert env_lines(render("spark-env.sh.j2", **MESOS, **FOUND)) == [
        "LD_LIBRARY_PATH=/usr/lib",
        "LIBPROCESS_IP=198.18.0.12",
        "MESOS_NATIVE_JAVA_LIBRARY=/usr/lib/libmesos-java.so",
        "SPARK_LOCAL_IP=198.18.0.12",
    ]


def test_the_node_address_falls_back_to_ansible_host() -> None:
    variables = role_variables("spark-3", **MESOS, **FOUND)
    del variables["smack_node_address"]
    templar = Templar(loader=DataLoader(), variables=variables)
    text = templar.template(trust_as_template((ROLE / "templates/spark-env.sh.j2").read_text()))
    assert "LIBPROCESS_IP=10.99.0.13" in env_lines(str(text))


def test_the_library_found_on_the_node_is_the_one_drivers_load() -> None:
    found = {"common_mesos_native_library_found": "/opt/mesos/lib/libmesos-java.so"}
    custom = env_lines(render("spark-env.sh.j2", **MESOS, **found))
    assert "MESOS_NATIVE_JAVA_LIBRARY=/opt/mesos/lib/libmesos-java.so" in custom
    assert "LD_LIBRARY_PATH=/opt/mesos/lib" in custom
    assert evaluate("spark_mesos_native_library") == ""  # empty: searched on the node


def test_executors_read_their_node_s_spark_env() -> None:
    conf = settings(render("spark-defaults.conf.j2", **MESOS))
    assert conf["spark.executorEnv.SPARK_CONF_DIR"] == "/etc/spark"


def test_the_credential_comes_from_the_stack_credentials() -> None:
    stack = {"mesos": {"spark": {"principal": "spark-from-stack", "secret": SECRET}}}
    text = render("spark-defaults.conf.j2", spark_cluster_manager="mesos", smack_credentials=stack)
    assert settings(text)["spark.mesos.principal"] == "spark-from-stack"
    assert SECRET not in text


def test_without_a_credential_no_authentication_keys() -> None:
    conf = settings(render("spark-defaults.conf.j2", spark_cluster_manager="mesos"))
    assert conf["spark.master"] == f"mesos://{ZK_URL}"
    assert not [key for key in conf if key.startswith("spark.mesos.principal")]
    assert "spark.mesos.secret.file" not in conf
    assert evaluate("_spark_mesos_authenticated", spark_cluster_manager="mesos") is False


def test_standalone_mode_still_renders_spark_url() -> None:
    conf = settings(render("spark-defaults.conf.j2"))
    assert conf["spark.master"] == "spark://198.18.0.11:7077"
    assert conf["spark.worker.cleanup.enabled"] == "true"
    assert not [key for key in conf if key.startswith("spark.mesos.")]
    assert "spark.submit.deployMode" not in conf
    # A credential in the stack changes nothing in standalone mode.
    stack = {"mesos": {"spark": {"principal": "p", "secret": SECRET}}}
    assert settings(render("spark-defaults.conf.j2", smack_credentials=stack)) == conf


def test_standalone_spark_authenticates_with_the_stack_secret_and_encrypts() -> None:
    stack = {"spark": {"secret": SECRET}}
    conf = settings(render("spark-defaults.conf.j2", smack_credentials=stack))
    assert conf["spark.authenticate"] == "true"
    assert conf["spark.authenticate.secret"] == SECRET
    assert conf["spark.network.crypto.enabled"] == "true"
    # Off on request, and never in mesos mode (the secret would travel in Mesos task info).
    off = settings(render("spark-defaults.conf.j2", smack_credentials=stack,
                          spark_authentication=False))
    mesos = render("spark-defaults.conf.j2", **MESOS, smack_credentials=stack)
    for text in (off, settings(mesos)):
        assert not [key for key in text if key.startswith(("spark.authenticate",
                                                           "spark.network.crypto"))]
    assert SECRET not in mesos


def test_units_per_mode() -> None:
    assert evaluate("_spark_units", "spark-1") == ["spark-master", "spark-worker", "spark-history"]
    assert evaluate("_spark_units", "spark-2") == ["spark-worker"]
    assert evaluate("_spark_units", "spark-1", **MESOS) == ["spark-history"]
    dispatcher = {**MESOS, "spark_mesos_dispatcher_enabled": True}
    assert evaluate("_spark_units", "spark-1", **dispatcher) == [
        "spark-history", "spark-mesos-dispatcher",
    ]  # fmt: skip
    assert evaluate("_spark_units", "spark-2", **dispatcher) == []
    assert "spark-mesos-dispatcher" in evaluate("_spark_all_units")


def test_extra_defaults_may_not_carry_credentials() -> None:
    managed = evaluate("_spark_managed_keys")
    for key in ("spark.mesos.principal", "spark.mesos.principal.file", "spark.mesos.secret",
                "spark.mesos.secret.file", "spark.submit.deployMode", "spark.master"):  # fmt: skip
        assert key in managed


def test_the_dispatcher_unit() -> None:
    text = render("spark-mesos-dispatcher.service.j2", "spark-1", **MESOS)
    assert "org.apache.spark.deploy.mesos.MesosClusterDispatcher" in text
    assert f"--master mesos://{ZK_URL}" in text
    assert "--host 198.18.0.11 --port 7077 --webui-port 8180" in text
    assert "EnvironmentFile=/etc/spark/spark-env.sh" in text
    assert SECRET not in text


def test_defaults_document_the_dispatcher_defects() -> None:
    defaults = (ROLE / "defaults" / "main.yml").read_text()
    readme = (ROLE / "README.md").read_text()
    for text in (defaults, readme):
        assert "spark.master.rest.enabled=true" in text
        assert "--driver-cores 1.0" in text
        assert "LIBPROCESS_PORT" in text
    assert "spark_mesos_dispatcher_enabled: false" in defaults


def test_gcc_and_nm_are_here() -> None:
    """The tests above need them; say so plainly instead of failing deep inside a fixture."""
    assert shutil.which("gcc") and shutil.which("nm"), "apt-get install gcc (brings binutils)"
