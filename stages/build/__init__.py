"""The build stage: what runs inside one build container per package.

A package, so that host tests import its modules as `build.<module>` beside the resolve stage's
own modules; in the container, driver.py puts this directory's parent on sys.path itself.
"""
