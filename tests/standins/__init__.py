"""smack test stand-ins for Mesos and Marathon: test doubles, never the real software.

`build.py` turns `standin/` (the daemons), `package/` (unit files, wrapper, control data) and
`libmesos/` into the `aventer-mesos` and `marathon` Debian packages and a flat apt repository.
See README.md.
"""
