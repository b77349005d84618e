# The archive engine: libzip 1.7 (Debian package libzip-dev) through pkg-config (its CMake
# package is broken on Debian 12); libmagic (filters/detect) for the members' types; the charset
# code (filters/text) for CP932 member names.
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
target_link_libraries(mugaika_filters_cdr PUBLIC PkgConfig::LIBZIP mugaika_filters_detect
                                                 mugaika_filters_text)
