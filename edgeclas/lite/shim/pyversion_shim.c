/*
 * Preloaded (LD_PRELOAD) into the Paddle Lite worker process only, never the driver.
 *
 * The paddlelite 2.13rc0 wheel exists for CPython 3.10 alone. Its pybind11 module `lite.so`
 * refuses other interpreters purely by comparing Py_GetVersion() with "3.10" at import; it uses
 * only the stable parts of the C API, so on a newer CPython it works once that check passes.
 * Defining Py_GetVersion here makes the dynamic linker bind the module's reference to this copy.
 * The interpreter keeps its real version_info; only the version string reads as 3.10.
 */
const char *Py_GetVersion(void)
{
    return "3.10.99 (edgeclas paddlelite compat shim)";
}
