# ARM Linux boards, 64-bit (aarch64): Debian g++-aarch64-linux-gnu, tests under qemu-aarch64-static.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(EDGECLAS_TRIPLE aarch64-linux-gnu)
set(EDGECLAS_QEMU_NAME qemu-aarch64-static)
set(EDGECLAS_CROSS_APT g++-aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/linux-common.cmake)
