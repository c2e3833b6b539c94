"""Spark on Mesos: the Java-bindings check and the configuration the spark role renders.

roles/spark/files/mesos_jni_symbols.py runs against stand-in libmesos.so builds
(tests/standins/build.py: with and without the Java_org_apache_mesos_* entry points), an ELF
that only references such a symbol, ELFs without section headers, a non-ELF file and a missing
one. The role's validate_mesos.yml tasks run in check mode through ansible-playbook on local
"hosts", one per library. The templates are rendered with Ansible's own Templar from the
role's defaults and vars/main.yml and a three-node inventory.
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

pytestmark = pytest.mark.unit

ROLE = PROJECT_DIR / "roles" / "spark"
SCRIPT = ROLE / "files" / "mesos_jni_symbols.py"
JNI = [
    f"Java_org_apache_mesos_{driver}_{method}"
    for driver in ("MesosExecutorDriver", "MesosSchedulerDriver")
    for method in sorted(("initialize", "finalize", "start", "stop", "abort", "join"))
]
INITIALIZE = "Java_org_apache_mesos_MesosSchedulerDriver_initialize"
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
    jni = build_libmesos(base / "jni", jni=True)
    plain = build_libmesos(base / "plain", jni=False)
    (base / "jni" / "libmesos.so").symlink_to(jni.name)
    source = base / "undefined.c"
    source.write_text(UNDEFINED_SOURCE)
    undefined = base / "libundefined.so"
    gcc("-shared", "-fPIC", "-o", str(undefined), str(source))
    sysv = base / "libmesos-sysv.so"
    gcc(
        "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-DSMACK_JNI", "-Wl,--hash-style=sysv",
        "-o", str(sysv), str(PROJECT_DIR / "tests/standins/libmesos/libmesos.c"),
    )  # fmt: skip
    text = base / "libmesos-text.so"
    text.write_text("INPUT(-lmesos)\n")  # a linker script, as some -dev packages ship
    truncated = base / "libmesos-truncated.so"
    truncated.write_bytes(jni.read_bytes()[:80])
    return {
        "jni": jni,
        "jni_link": base / "jni" / "libmesos.so",
        "plain": plain,
        "undefined": undefined,
        "gnu_no_sections": strip_section_headers(jni, base / "libmesos-gnu-nosh.so"),
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
    assert result.stdout.splitlines() == sorted(JNI)
    assert INITIALIZE in result.stdout.splitlines()
    assert result.stdout.splitlines() == nm_defined(libs["jni"])
    assert result.stderr == ""


def test_a_symlink_is_followed(libs: dict[str, Path]) -> None:
    result = run_script(libs["jni_link"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == sorted(JNI)


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
    assert result.stdout.splitlines() == sorted(JNI)


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


# --- the role's check, run by Ansible --------------------------------------------------------


def test_the_role_refuses_libraries_without_java_bindings(
    libs: dict[str, Path], tmp_path: Path
) -> None:
    """validate_mesos.yml in --check mode on local hosts, one library (or credential) each."""
    hosts: dict[str, dict[str, Any]] = {
        "with-jni": {"spark_mesos_native_library": str(libs["jni_link"])},
        "without-jni": {"spark_mesos_native_library": str(libs["plain"])},
        "undefined-only": {"spark_mesos_native_library": str(libs["undefined"])},
        "missing": {"spark_mesos_native_library": str(libs["missing"])},
        "not-elf": {"spark_mesos_native_library": str(libs["text"])},
        "half-credential": {
            "spark_mesos_native_library": str(libs["jni"]),
            "spark_mesos_credential": {"secret": SECRET},
        },
        "credential": {
            "spark_mesos_native_library": str(libs["jni"]),
            "smack_credentials": {"mesos": {"spark": {"principal": "spark", "secret": SECRET}}},
        },
    }
    for values in hosts.values():
        values["ansible_connection"] = "local"
    (tmp_path / "inventory.yml").write_text(json.dumps({"all": {"hosts": hosts}}))
    (tmp_path / "check.yml").write_text(
        json.dumps([{
            "name": "Check the Mesos native library",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [{
                "name": "Run the spark role's Mesos checks",
                "ansible.builtin.include_role": {"name": "spark", "tasks_from": "validate_mesos"},
            }],
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
    assert SECRET not in run.stdout + run.stderr
    assert set(failures) == set(hosts) - {"with-jni", "credential"}, failures
    assert report["stats"]["with-jni"]["changed"] == 0

    for host in ("without-jni", "undefined-only"):
        msg = failures[host]
        assert f"spark on {host}: {hosts[host]['spark_mesos_native_library']}" in msg
        assert f"does not export {INITIALIZE} (0 Java_org_apache_mesos_* functions" in msg
        assert "the installed Mesos package lacks its Java (JNI) bindings" in msg
        assert "CMake-built Mesos packages do" in msg
        assert "Install a Mesos package built with its Java bindings" in msg
        assert "spark.cluster_manager: standalone" in msg
    assert failures["missing"] == (
        f"spark on missing: no Mesos native library at {libs['missing']}: install the Mesos "
        "package on spark nodes or set spark_mesos_native_library."
    )
    assert failures["not-elf"].startswith(
        f"spark on not-elf: cannot read the dynamic symbols of {libs['text']} (rc 3): "
    )
    assert "not an ELF file" in failures["not-elf"]
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


def test_mesos_mode_spark_env() -> None:
    assert env_lines(render("spark-env.sh.j2", **MESOS)) == [
        "LD_LIBRARY_PATH=/usr/lib",
        "LIBPROCESS_IP=198.18.0.12",
        "MESOS_NATIVE_JAVA_LIBRARY=/usr/lib/libmesos.so",
        "SPARK_LOCAL_IP=198.18.0.12",
    ]


def test_the_node_address_falls_back_to_ansible_host() -> None:
    variables = role_variables("spark-3", **MESOS)
    del variables["smack_node_address"]
    templar = Templar(loader=DataLoader(), variables=variables)
    text = templar.template(trust_as_template((ROLE / "templates/spark-env.sh.j2").read_text()))
    assert "LIBPROCESS_IP=10.99.0.13" in env_lines(str(text))


def test_the_library_path_is_a_knob_with_an_el_default() -> None:
    el = env_lines(render("spark-env.sh.j2", ansible_os_family="RedHat", **MESOS))
    assert "MESOS_NATIVE_JAVA_LIBRARY=/usr/lib64/libmesos.so" in el
    assert "LD_LIBRARY_PATH=/usr/lib64" in el
    custom = env_lines(
        render("spark-env.sh.j2", spark_mesos_native_library="/opt/mesos/lib/libmesos.so", **MESOS)
    )
    assert "MESOS_NATIVE_JAVA_LIBRARY=/opt/mesos/lib/libmesos.so" in custom
    assert "LD_LIBRARY_PATH=/opt/mesos/lib" in custom


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
