# Read by DuckDB's CMake extension tooling (EXTENSION_CONFIGS=.../extension_config.cmake).
# Our own build does not use it: `make release` builds with cargo and appends the metadata
# footer (scripts/append_metadata.py). sysmon is a C API (C_STRUCT) extension, so it is
# never linked into a DuckDB binary; it is only loadable, and its tests live in test/sql.
duckdb_extension_load(sysmon
    SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}
    DONT_LINK
    LOAD_TESTS
)
