"""Which request files in the requests directory are new.

The host writes `<id>.json.tmp` and renames it to `<id>.json`, so a `<id>.json` is always whole;
ids are decimal integers. A file named `stop` asks the session to finish and exit. Anything else
(temporary files, strays) is ignored.
"""

import re
from dataclasses import dataclass

REQUEST = re.compile(r"([0-9]+)\.json")
STOP = "stop"


@dataclass(frozen=True)
class Scan:
    new: list  # ids not taken before, lowest first
    stop: bool


def scan(names, taken):
    """What a directory listing `names` holds beyond the ids in `taken`."""
    new = set()
    for name in names:
        match = REQUEST.fullmatch(name)
        if match and match.group(1) not in taken:
            new.add(match.group(1))
    return Scan(new=sorted(new, key=lambda request_id: (int(request_id), request_id)), stop=STOP in names)
