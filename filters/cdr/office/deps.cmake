# The office family (ooxml, odf, office engines): libzip reads and writes packages, pugixml parses
# and rewrites their XML parts. libzip's CMake package is broken on Debian 12 (it requires
# zipcmp/zipmerge/ziptool): use pkg-config. PUBLIC so the tests can build inputs with both.
pkg_check_modules(MUGAIKA_CDR_LIBZIP REQUIRED IMPORTED_TARGET libzip)
if(NOT TARGET pugixml::pugixml)
    find_package(pugixml REQUIRED)
endif()
target_link_libraries(mugaika_filters_cdr PUBLIC PkgConfig::MUGAIKA_CDR_LIBZIP pugixml::pugixml)
