"""The `mitogen_linear` strategy of ansible.cfg: Ansible's linear strategy over Mitogen
connections, from the pinned `mitogen` package.

Mitogen keeps one Python interpreter per host for the whole run and sends each module to it
once, instead of starting a fresh interpreter that unpacks an AnsiballZ payload for every
task. On this project's no-op site.yml (three nodes, ZooKeeper and Kafka) that halves the
CPU (72 → 36 core-seconds) and cuts the run from 40 s to 27 s. Set ANSIBLE_STRATEGY=linear to
run without it.

Mitogen's CPU placement is switched off. On a machine with fewer than four CPUs it pins its
connection multiplexer to CPU 0 and the playbook process, every task worker and every SSH
client to CPU 1, so the controller's work (about 0.1 core-second per task and host on smack's
roles) queues on one CPU while the other idles or runs the nodes. Measured on this project's
local stack (three nodes, every service, 2 CPUs), a no-op site.yml: pinned 124-140 s,
unplaced 79-84 s; the controller's processes used 101 core-seconds instead of 117-130.
"""

import ansible_mitogen.affinity
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

# The base policy places nothing: the kernel schedules the controller's processes like any
# other. Set before the strategy starts its multiplexer and workers, which ask the policy.
ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

__all__ = ["StrategyModule"]
