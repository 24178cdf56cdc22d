/*
 * Answers the interpreter-version check of the paddlelite 2.13rc0 wheel, in its worker process only.
 *
 * That wheel exists for CPython 3.10 alone. Its pybind11 module `lite.so` refuses other interpreters
 * purely by comparing Py_GetVersion() with "3.10" when imported; it uses only stable parts of the
 * C API, so on a newer CPython it works once that check passes.
 *
 * edgeclas renames the module's one import of `Py_GetVersion` to `EdgeclasPyVer` (same length, in
 * the compat runtime's copy of lite.so) and preloads this library, which defines it. Renaming rather
 * than interposing Py_GetVersion itself works with statically linked interpreters too (Debian's
 * python3), whose own definition would win, and leaves the interpreter's sys.version untouched.
 */
const char *EdgeclasPyVer(void)
{
    return "3.10.99 (edgeclas paddlelite compat shim)";
}
