"""Security on one converged local node with every service (Mesos and Marathon: STAND-INS).

What issue 15 has delivered so far, proven on a node of its own (its first deploy is short, and
the shared cluster of test_services.py stays free for day 2): the node's TLS identity from the
stack's CA, Spark's shared-secret authentication, Mesos ACLs per principal, Kafka's TLS listeners
with SCRAM logins and ACLs per principal, Cassandra's TLS and logins with permissions per role and
JMX behind a password, a Marathon that fails to start saying why without its
password, and no generated secret on a command line, in a world-readable file, in the journal or
in anything the Ansible runs leave on this machine.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.credentials import credentials_file
from infra.errors import AnsibleRunError
from infra.paths import state_dir
from infra.status import ProbeError, kafka_api_versions
from tests.integration.conftest import integration_settings, new_cluster
from tests.integration.test_services import LABELS, SERVICES, Stack

pytestmark = pytest.mark.integration
NODES = (1,)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # No Marathon app: test_services.py's needs two nodes.
    services = {**SERVICES, "kafka": {**SERVICES["kafka"], "principals": {
        "app": {"produce": ["app.*"]}}}}
    c = new_cluster(integration_settings(
        services=services, nodes=[{"name": "node", "count": len(NODES), "labels": LABELS}]))
    try:
        c.up()
        s = Stack(c, count=len(NODES))
        assert c.run("site.yml").changed > 0
        yield s
    finally:
        c.down()


def test_the_node_has_a_key_of_its_own_and_a_certificate_from_the_stack_ca(
        stack: Stack) -> None:
    ca = x509.load_pem_x509_certificate(stack.credentials()["ca"]["cert"].encode())
    assert stack.sh(1, "cat /etc/smack/tls/ca.crt").encode() == ca.public_bytes(
        serialization.Encoding.PEM)
    cert = x509.load_pem_x509_certificate(stack.sh(1, "cat /etc/smack/tls/node.crt").encode())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["node-1"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == stack.addresses
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > dt.timedelta(days=300)
    assert stack.sh(1, "stat -c '%a %U' /etc/smack/tls/node.key").split() == ["600", "root"]
    public = stack.sh(1, "openssl pkey -in /etc/smack/tls/node.key -pubout")
    assert public.encode() == cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # A rerun renews a certificate that expires within common_tls_renew_days; the key stays.
    renewed = stack.cluster.run("site.yml", tags="tls", extravars={"common_tls_renew_days": 400})
    assert renewed.changed_tasks == ["node-1: Install the node's certificate "
                                     "(/etc/smack/tls/node.crt)"]
    assert stack.sh(1, "cat /etc/smack/tls/node.crt") != cert.public_bytes(
        serialization.Encoding.PEM).decode()
    assert stack.sh(1, "openssl pkey -in /etc/smack/tls/node.key -pubout") == public
    assert stack.cluster.run("site.yml", tags="tls").changed == 0


def test_spark_runs_jobs_that_know_its_secret_and_refuses_one_that_does_not(
        stack: Stack) -> None:
    assert stack.sh(1, "stat -c '%a %U:%G' /etc/spark/spark-defaults.conf").split() \
        == ["640", "root:spark"]
    job = (f"cd /var/lib/spark && runuser -u spark -- timeout 240 /usr/local/bin/spark-submit "
           f"--master spark://{stack.addresses[0]}:7077 --conf spark.ui.enabled=false")
    done = stack.sh(1, f"{job} spark-verify.py 100 2 1 60 2>&1; echo exit=$?", check=False)
    assert "exit=0" in done and "SMACK_SPARK_VERIFY {" in done, done[-3000:]
    # The same job without the secret: the master does not let it register.
    refused = stack.sh(1, f"{job} --conf spark.authenticate=false "
                          f"--conf spark.network.crypto.enabled=false "
                          f"spark-verify.py 100 2 1 60 2>&1; echo exit=$?", check=False)
    assert "exit=0" not in refused and "SMACK_SPARK_VERIFY {" not in refused, refused[-3000:]


def post(url: str, auth: tuple[str, str], body: bytes, content_type: str) -> int:
    """POST to the node: the status code (errors included)."""
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310
        "Authorization": f"Basic {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - own node
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_mesos_lets_each_principal_do_only_its_part(stack: Stack) -> None:
    leader = stack.leader()
    mesos = stack.credentials()["mesos"]
    spark = (mesos["spark"]["principal"], mesos["spark"]["secret"])
    agent = (mesos["agent"]["principal"], mesos["agent"]["secret"])
    _, frameworks = stack.get(f"http://{leader}:5050/master/frameworks", stack.operator())
    marathon = next(f["id"] for f in frameworks["frameworks"] if f["name"] == "marathon")
    machine = {"hostname": "node-1", "ip": stack.addresses[0]}
    schedule = {"windows": [{"machine_ids": [machine],
                             "unavailability": {"start": {"nanoseconds": 1}}}]}
    for who in (spark, agent):
        assert post(f"http://{leader}:5050/master/teardown", who,
                    f"frameworkId={marathon}".encode(),
                    "application/x-www-form-urlencoded") == 403, who[0]
        for path, body in (("maintenance/schedule", schedule), ("machine/down", [machine]),
                           ("machine/up", [machine])):
            assert post(f"http://{leader}:5050/master/{path}", who, json.dumps(body).encode(),
                        "application/json") == 403, (who[0], path)
        # Reads of the schedule pass authentication, and show nothing this principal may touch.
        assert stack.get(f"http://{leader}:5050/master/maintenance/schedule", who) == (200, {})
    # Nothing happened: Marathon is still registered, the agent active, no maintenance.
    _, frameworks = stack.get(f"http://{leader}:5050/master/frameworks", stack.operator())
    assert [f["id"] for f in frameworks["frameworks"] if f["active"]] == [marathon]
    assert len(stack.active_agents()) == len(NODES)
    assert stack.get(f"http://{leader}:5050/master/maintenance/schedule", stack.operator()) \
        == (200, {})


def test_a_marathon_that_will_not_start_shows_why_without_its_credentials(
        stack: Stack) -> None:
    # Marathon's output goes to a root-only file (it starts with the credentials); a failed
    # start still shows Marathon's own message, with the credential lines left out.
    password = stack.marathon_user()[1]
    with pytest.raises(AnsibleRunError) as caught:
        stack.cluster.run("site.yml", tags="marathon",
                          extravars={"marathon_flags": {"no_such_option": "1"}})
    message = str(caught.value)
    assert "Unknown option 'no_such_option'" in message
    assert "node-1" in message and "marathon" in message
    leaked = message.count(password)
    assert leaked == 0, "the failure message holds Marathon's HTTP password"
    fixed = stack.cluster.run("site.yml", tags="marathon")
    assert fixed.hosts["node-1"].failed == 0
    assert stack.get(f"http://{stack.addresses[0]}:8080/ping", stack.marathon_user())[0] == 200


def kafka_login(stack: Stack, name: str, user: str, password: str) -> str:
    """A root-only client settings file on the node for `user` (the password goes in on stdin)."""
    path = f"/root/{name}.properties"
    stack.engine.run("exec", "-i", stack.container(1), "sh", "-c", f"umask 077; cat > {path}",
                     input_text=(
                         "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                         "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule "
                         f'required username="{user}" password="{password}";\n'
                         "ssl.truststore.type=PEM\nssl.truststore.location=/etc/smack/tls/ca.crt\n"))
    return path


def produce(stack: Stack, login: str, topic: str) -> str:
    """Three messages to `topic` through the client listener; what the tool said (it exits 0
    also when every send failed, so callers judge by the messages and by what was stored)."""
    return stack.sh(1, f"seq 3 | timeout 60 kafka-console-producer --bootstrap-server "
                       f"$(hostname -i):9092 --producer.config {login} --topic {topic} "
                       f"--producer-property max.block.ms=15000 2>&1", check=False)


def stored(stack: Stack, topic: str) -> int:
    """How many messages `topic` holds, read by root's tools as the node."""
    out = stack.sh(1, f"kafka-console-consumer --bootstrap-server $(hostname -i):9094 "
                      f"--topic {topic} --from-beginning --timeout-ms 15000 2>/dev/null",
                   check=False)
    return len(out.split())


def test_kafka_takes_tls_logins_only_and_each_principal_only_its_topics(stack: Stack) -> None:
    address = stack.addresses[0]
    creds = stack.credentials()
    trusted = ssl.create_default_context(cadata=creds["ca"]["cert"])
    # Plaintext to the client port gets no Kafka answer; TLS with the stack's CA does.
    with pytest.raises(ProbeError):
        kafka_api_versions(address, 9092, 15)
    assert kafka_api_versions(address, 9092, 15, trusted)
    # The brokers' own listener takes node certificates only.
    with pytest.raises(ProbeError, match="TLS refused"):
        kafka_api_versions(address, 9094, 15, trusted)
    stack.sh(1, "kafka-topics --bootstrap-server $(hostname -i):9094 --create "
                "--topic app.events --partitions 1 --replication-factor 1 >/dev/null && "
                "kafka-topics --bootstrap-server $(hostname -i):9094 --create "
                "--topic other --partitions 1 --replication-factor 1 >/dev/null")
    app = kafka_login(stack, "app", "app", creds["kafka"]["principals"]["app"])
    wrong = kafka_login(stack, "wrong", "app", "not-the-password")
    try:
        sent = produce(stack, app, "app.events")
        assert stored(stack, "app.events") == 3, sent[-2000:]
        refused = produce(stack, wrong, "app.events")
        assert "Authentication failed" in refused, refused[-2000:]
        # app may write to topics app.* and nothing else, and may not read at all.
        other = produce(stack, app, "other")
        assert "Not authorized to access topics: [other]" in other, other[-2000:]
        assert stored(stack, "app.events") == 3 and stored(stack, "other") == 0
        read = stack.sh(1, f"kafka-console-consumer --bootstrap-server $(hostname -i):9092 "
                           f"--consumer.config {app} --topic app.events --from-beginning "
                           f"--timeout-ms 20000 2>&1", check=False)
        assert "Not authorized to access" in read, read[-2000:]
    finally:
        stack.sh(1, f"rm -f {app} {wrong}")
    # A principal taken out of the settings loses its login and its ACLs; back in, it has both.
    acls = "kafka-acls --bootstrap-server $(hostname -i):9094 --list"
    users = "kafka-configs --bootstrap-server $(hostname -i):9094 --describe --entity-type users"
    assert "User:app" in stack.sh(1, acls)
    stack.cluster.run("site.yml", tags="kafka", extravars={"kafka_principals": {}})
    assert "User:" not in stack.sh(1, acls)
    assert "'app'" not in stack.sh(1, users) and "'smack-admin'" in stack.sh(1, users)
    assert stack.cluster.run("site.yml", tags="kafka").changed > 0
    assert "User:app" in stack.sh(1, acls) and "'app'" in stack.sh(1, users)
    # Security is not switched off in place: refused before anything changes.
    properties = stack.sh(1, "cat /etc/kafka/server.properties")
    with pytest.raises(AnsibleRunError) as caught:
        stack.cluster.run("site.yml", tags="kafka", extravars={"kafka_security": False})
    assert "switching a running cluster in place is not supported" in str(caught.value)
    assert stack.sh(1, "cat /etc/kafka/server.properties") == properties


def cql_as(stack: Stack, login: tuple[str, str] | None, tls: bool = True) -> Any:
    """A session on the node as `login` (None: no login), over TLS trusting the stack's CA."""
    from cassandra.auth import PlainTextAuthProvider  # type: ignore[import-untyped]
    from cassandra.cluster import Cluster  # type: ignore[import-untyped]

    options: dict[str, Any] = {}
    if tls:
        context = ssl.create_default_context(cadata=stack.credentials()["ca"]["cert"])
        context.check_hostname = False
        options["ssl_context"] = context
    if login:
        options["auth_provider"] = PlainTextAuthProvider(*login)
    cluster = Cluster([stack.addresses[0]], connect_timeout=10, control_connection_timeout=10,
                      **options)
    try:
        return cluster.connect()
    except Exception:
        cluster.shutdown()
        raise


def refused(stack: Stack, login: tuple[str, str] | None, tls: bool = True) -> str:
    from cassandra.cluster import NoHostAvailable  # type: ignore[import-untyped]

    with pytest.raises(NoHostAvailable) as caught:
        cql_as(stack, login, tls).cluster.shutdown()
    return str(caught.value)


def test_cassandra_takes_tls_logins_only_and_each_role_only_its_keyspaces(stack: Stack) -> None:
    from cassandra import Unauthorized  # type: ignore[import-untyped]

    cassandra = stack.credentials()["cassandra"]
    admin = (cassandra["admin"]["user"], cassandra["admin"]["password"])
    # Plaintext gets no CQL answer; TLS without a login, a wrong password and the default
    # superuser are refused.
    refused(stack, admin, tls=False)
    assert "requires authentication" in refused(stack, None)
    assert "and/or password are incorrect" in refused(stack, (admin[0], "not-the-password"))
    assert "is not permitted to log in" in refused(stack, ("cassandra", "cassandra"))
    session = cql_as(stack, admin)
    try:
        roles = {r.role: (r.is_superuser, r.can_login) for r in session.execute(
            "SELECT role, is_superuser, can_login FROM system_auth.roles")}
        assert roles["cassandra"] == (False, False) and roles[admin[0]] == (True, True)
        assert roles["smack_verify"] == (False, True)
        session.execute("CREATE KEYSPACE IF NOT EXISTS private WITH replication = "
                        "{'class': 'NetworkTopologyStrategy', 'east': 1}")
        session.execute("CREATE TABLE IF NOT EXISTS private.t (id int PRIMARY KEY)")
    finally:
        session.cluster.shutdown()
    # A login role reads only the keyspaces it was given.
    verify = cql_as(stack, ("smack_verify", cassandra["roles"]["smack_verify"]))
    try:
        with pytest.raises(Unauthorized):
            verify.execute("SELECT * FROM private.t")
    finally:
        verify.cluster.shutdown()
    # nodetool goes through JMX on 127.0.0.1 only, and JMX wants the password.
    assert stack.sh(1, "ss -Hltn sport = :7199").split()[3] == "127.0.0.1:7199"
    assert "UN " in stack.sh(1, "nodetool status")
    # The wrapper without its login line: nodetool as anyone on the node who lacks the password.
    anonymous = stack.sh(1, "sed '/-pwf/d' /usr/local/bin/nodetool > /root/nodetool-anon && "
                            "sh /root/nodetool-anon status 2>&1; rm -f /root/nodetool-anon",
                         check=False)
    assert "Authentication failed! Credentials required" in anonymous, anonymous[-2000:]
    # Security is not switched off in place: refused before anything changes.
    config = stack.sh(1, "cat /etc/cassandra/cassandra.yaml")
    with pytest.raises(AnsibleRunError) as caught:
        stack.cluster.run("site.yml", tags="cassandra", extravars={"cassandra_security": False})
    assert "switching a running ring in place is not supported" in str(caught.value)
    assert stack.sh(1, "cat /etc/cassandra/cassandra.yaml") == config


def test_no_generated_secret_on_a_command_line_in_a_world_readable_file_or_the_journal(
        stack: Stack) -> None:
    # Last: after the failed and the fixed Marathon start above.
    creds = stack.credentials()
    secrets = [c["secret"] for c in creds["mesos"].values()]
    secrets += [creds["marathon_http"]["password"], creds["spark"]["secret"],
                creds["kafka"]["admin"]["password"], *creds["kafka"]["principals"].values(),
                creds["cassandra"]["admin"]["password"], creds["cassandra"]["jmx"]["password"],
                *creds["cassandra"]["roles"].values(),
                *(login["password"] for login in creds["zookeeper"].values())]
    # The secrets reach the node on stdin into a root-only file, never on a command line.
    stack.engine.run("exec", "-i", stack.container(1), "sh", "-c",
                     "umask 077; cat > /root/.secrets-under-test",
                     input_text="\n".join(secrets) + "\n")
    hits = stack.sh(1, """
        f=/root/.secrets-under-test
        for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done \\
          | grep -q -F -f $f && echo cmdline
        find /etc -xdev -type f -perm -o=r -exec grep -l -F -f $f {} + 2>/dev/null
        journalctl --no-pager -o cat | grep -q -F -f $f && echo journal
        rm -f $f
        true""").split()
    assert hits == []
    # Nor in what the Ansible runs left on this machine: events, output, facts, logs.
    local = state_dir(stack.cluster.settings.stack)
    leaked = [str(path.relative_to(local)) for path in local.rglob("*")
              if path.is_file() and path != credentials_file(stack.cluster.settings.stack)
              and any(secret.encode() in path.read_bytes() for secret in secrets)]
    assert leaked == []
    # Marathon prints its HTTP password at start-up, as the real 1.11 does: only root reads it.
    log = stack.sh(1, "stat -c '%a %U' /var/log/marathon /var/log/marathon/marathon.log")
    assert log.split() == ["700", "root", "600", "root"], log
    # Counted, not compared: a failing assertion must not print the log (and the password).
    found = stack.sh(1, "cat /var/log/marathon/marathon.log").count(
        creds["marathon_http"]["password"])
    assert found > 0, "the stand-in did not log its start-up credentials like the real Marathon"
