# The text engine: charset decoding and cleaning from filters/text (iconv from glibc).
target_link_libraries(mugaika_filters_cdr PUBLIC mugaika_filters_text)
