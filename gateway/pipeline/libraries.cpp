#include "gateway/pipeline/libraries.hpp"

#include <gmime/gmime.h>

#include "filters/av/av_engine.hpp"

namespace mugaika::gateway {

void init_libraries() {
    g_mime_init();
    // A failure here shows again, with libclamav's words, when the engine is loaded.
    (void)filters::av::init_clamav();
}

void shutdown_libraries() {
    g_mime_shutdown();
}

} // namespace mugaika::gateway
