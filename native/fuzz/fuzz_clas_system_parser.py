"""Fuzz target (atheris, libFuzzer-based) for the Python parser of clas_system's stdout.

Whatever bytes a device sends back, ``parse_clas_system`` must return a result or raise
``OutputParseError`` (deploy and bench turn that into a recorded failure): any other exception is a crash of
``edgeclas deploy``. Run by scripts/fuzz.py; by hand: ``python native/fuzz/fuzz_clas_system_parser.py CORPUS_DIR
-max_total_time=60`` (libFuzzer flags).
"""

import sys

import atheris

with atheris.instrument_imports(include=["edgeclas.parsers", "edgeclas.bench.stats"]):
    from edgeclas.device.errors import OutputParseError
    from edgeclas.parsers.clas_system import parse_clas_system


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        out = parse_clas_system(text)
    except OutputParseError:
        return
    for img in out.images:  # what the parser returns is what its callers expect
        if not all(isinstance(p, float) for p in img.probs or []):
            raise AssertionError(f"probabilities {img.probs!r} are not all floats")
        if not all(isinstance(t.class_id, int) and isinstance(t.score, float) for t in img.topk):
            raise AssertionError(f"top-k {img.topk!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
