"""smack TEST STAND-INS for Apache Mesos 1.11 and Marathon 1.11 -- not Mesos, not Marathon.

Small Python daemons that accept the real flags, register in ZooKeeper like the real ones and
answer the HTTP endpoints deployers check, shaped like output captured from real binaries
(tests/reference/real-mesos-samples). They run no tasks. Entry points:
mesos_master.main, mesos_agent.main, marathon.main (argv without the program name).
"""
