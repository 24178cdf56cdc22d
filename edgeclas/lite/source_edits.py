"""Small, checked edits edgeclas makes to a fresh clone of Paddle Lite before CMake (see x86_recipe and
source_build for which and why). Each edit names the text Paddle Lite v2.13-rc has; one that does not find
it exactly stops the build naming the file, rather than building something else. Everything is checked
before anything is written."""

from __future__ import annotations

from pathlib import Path

from ..errors import BuildError

__all__ = ["Edit", "HINT", "apply_edits", "TAILOR_FP16"]

# (file under the tree, text v2.13-rc has, what edgeclas puts there, how many times the text occurs)
Edit = tuple[str, str, str, int]

HINT = "the recipe is written for Paddle Lite v2.13-rc: build that tag (--ref v2.13-rc)"

# A tailored build copies the conv kernel's helper files (depthwise, winograd, direct, gemmlike) beside
# conv_compute.cc but not conv_depthwise_common.cc, where the ARM FP16 depthwise conv lives: a tailored
# --fp16 library then leaves DepthwiseConvCommon<kFP16, kFP16> undefined (edgeclas refuses such a library).
TAILOR_FP16: tuple[Edit, ...] = (
    ("lite/kernels/CMakeLists.txt",
     '                    COMMAND ${CMAKE_COMMAND} -E copy "${PADDLE_SOURCE_DIR}/lite/kernels/${target}/conv_gemmlike.cc" '
     '"${kernel_tailor_src_dir}/conv_gemmlike_${target}_${suffix}.cc"\n',
     '                    COMMAND ${CMAKE_COMMAND} -E copy "${PADDLE_SOURCE_DIR}/lite/kernels/${target}/conv_gemmlike.cc" '
     '"${kernel_tailor_src_dir}/conv_gemmlike_${target}_${suffix}.cc"\n'
     '                    COMMAND ${CMAKE_COMMAND} -E copy "${PADDLE_SOURCE_DIR}/lite/kernels/${target}/conv_depthwise_common.cc" '
     '"${kernel_tailor_src_dir}/conv_depthwise_common_${target}_${suffix}.cc"\n', 1),
)


def apply_edits(tree: Path, edits: tuple[Edit, ...]) -> None:
    """Make ``edits`` in ``tree``, or none of them (BuildError naming the file whose text is not as expected)."""
    edited: dict[Path, str] = {}
    for rel, old, new, count in edits:
        path = tree / rel
        try:
            text = edited.get(path) or path.read_text()
        except OSError as e:
            raise BuildError(f"{path}: {e.strerror}; edgeclas's recipe edits it", hint=HINT) from None
        if text.count(old) != count:
            raise BuildError(f"{path}: the text edgeclas's recipe edits is not there as in v2.13-rc "
                             f"({old.strip()[:60]!r})", hint=HINT)
        edited[path] = text.replace(old, new)
    for path, text in edited.items():
        path.write_text(text)
