"""smack: SMACK clusters from one Pulumi program and a set of Ansible roles."""
