# The PDF engine: qpdf reads, cleans and writes PDF; poppler renders pages for pdf_flatten.
# PUBLIC so that the tests and the benchmark can build their inputs with qpdf.
pkg_check_modules(QPDF REQUIRED IMPORTED_TARGET libqpdf>=11)
pkg_check_modules(POPPLER_CPP REQUIRED IMPORTED_TARGET poppler-cpp)
target_link_libraries(mugaika_filters_cdr PUBLIC PkgConfig::QPDF PRIVATE PkgConfig::POPPLER_CPP)
# qpdf 11 warns about PointerHolder unless told that the code is past the transition.
target_compile_definitions(mugaika_filters_cdr PUBLIC POINTERHOLDER_TRANSITION=4)
