# Shared part of linux-armv7.cmake / linux-armv8.cmake (Debian cross gcc + qemu-user). Expects
# EDGECLAS_TRIPLE, EDGECLAS_QEMU_NAME, EDGECLAS_CROSS_APT and CMAKE_SYSTEM_PROCESSOR set by the caller.
set(CMAKE_SYSTEM_NAME Linux)

find_program(EDGECLAS_CROSS_CXX ${EDGECLAS_TRIPLE}-g++)
find_program(EDGECLAS_CROSS_CC ${EDGECLAS_TRIPLE}-gcc)
if(NOT EDGECLAS_CROSS_CXX OR NOT EDGECLAS_CROSS_CC)
  message(FATAL_ERROR "${EDGECLAS_TRIPLE}-g++ not found on PATH: apt-get install ${EDGECLAS_CROSS_APT}")
endif()
set(CMAKE_C_COMPILER ${EDGECLAS_CROSS_CC})
set(CMAKE_CXX_COMPILER ${EDGECLAS_CROSS_CXX})

# Libraries and headers of the target come from the cross sysroot only; programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${EDGECLAS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest (and add_custom_command on built programs) run target binaries through qemu-user. The prefix
# given to -L is where qemu looks up the dynamic loader, shared libraries and absolute paths such as
# /proc/cpuinfo: `edgeclas build` points it at a prefix holding an ARM proc/cpuinfo, which ONNX Runtime
# needs under qemu (it crashes reading the host's x86 cpuinfo).
set(EDGECLAS_QEMU_LD_PREFIX "/usr/${EDGECLAS_TRIPLE}" CACHE PATH "qemu -L prefix (sysroot, optionally with proc/cpuinfo)")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGECLAS_QEMU_LD_PREFIX)
find_program(EDGECLAS_QEMU ${EDGECLAS_QEMU_NAME})
if(EDGECLAS_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${EDGECLAS_QEMU};-L;${EDGECLAS_QEMU_LD_PREFIX}")
else()
  message(WARNING "${EDGECLAS_QEMU_NAME} not found: ARM binaries build but ctest cannot run them "
                  "(apt-get install qemu-user-static)")
endif()
