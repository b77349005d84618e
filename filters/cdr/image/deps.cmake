# The image engine: libvips 8.14 (Debian package libvips-dev) decodes and encodes every format.
pkg_check_modules(VIPS REQUIRED IMPORTED_TARGET vips)
target_link_libraries(mugaika_filters_cdr PUBLIC PkgConfig::VIPS)
