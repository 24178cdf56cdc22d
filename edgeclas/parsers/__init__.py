"""Pure parsers of tools' text output (clas_system, PaddleClas demo, Paddle Lite benchmark_bin), tested on recordings."""
