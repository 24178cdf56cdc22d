# ARM Linux boards, 32-bit hard-float with NEON: Debian g++-arm-linux-gnueabihf, tests under qemu-arm-static.
set(CMAKE_SYSTEM_PROCESSOR armv7-a)
set(EDGECLAS_TRIPLE arm-linux-gnueabihf)
set(EDGECLAS_QEMU_NAME qemu-arm-static)
set(EDGECLAS_CROSS_APT g++-arm-linux-gnueabihf)
include(${CMAKE_CURRENT_LIST_DIR}/linux-common.cmake)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=neon -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon -mfloat-abi=hard")
