"""The resolve stage: what runs inside the resolver session's container (session.py).

A package, so that host tests import its modules as `resolve.<module>` beside the build stage's
own modules; in the container, session.py puts this directory's parent on sys.path itself.
"""
