# Android armeabi-v7a phones with NEON: the NDK's own toolchain file (found via ANDROID_NDK_HOME / ANDROID_NDK_ROOT / EDGECLAS_NDK).
set(EDGECLAS_ANDROID_ABI armeabi-v7a)
if(NOT DEFINED ANDROID_ARM_NEON)
  set(ANDROID_ARM_NEON ON)  # NDK r21+ enables NEON by default; older NDKs need it said
endif()
include(${CMAKE_CURRENT_LIST_DIR}/android-common.cmake)
