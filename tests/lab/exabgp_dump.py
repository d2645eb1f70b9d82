"""ExaBGP helper process for the lab tests: appends every JSON message to a file."""

import sys

with open(sys.argv[1], "a") as out:
    for line in sys.stdin:
        out.write(line)
        out.flush()
