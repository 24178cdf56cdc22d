"""What ``paddle.distributed.launch`` runs in each worker process (it takes a script path, not a module).

Its one argument is a JSON spec written by :func:`edgeclas.train.distributed.launch`.
"""

import sys

from edgeclas.train.distributed import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
