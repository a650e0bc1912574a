//! A PEP 503 / PEP 691 package index served on loopback from fixture sdists (owned by the resolve work).
