# edgeclas: no glog. The recipe makes Paddle Lite's x86 build log through its own logger (as its ARM and
# Python builds do), so nothing includes or links glog; the targets exist because Paddle Lite's CMake names them.
add_custom_target(extern_glog)
add_library(glog INTERFACE)
add_dependencies(glog extern_glog)
