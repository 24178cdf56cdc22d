# Android arm64-v8a phones: the NDK's own toolchain file (found via ANDROID_NDK_HOME / ANDROID_NDK_ROOT / EDGECLAS_NDK).
set(EDGECLAS_ANDROID_ABI arm64-v8a)
include(${CMAKE_CURRENT_LIST_DIR}/android-common.cmake)
