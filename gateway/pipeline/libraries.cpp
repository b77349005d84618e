#include "gateway/pipeline/libraries.hpp"

#include <gmime/gmime.h>

namespace mugaika::gateway {

void init_libraries() {
    g_mime_init();
}

void shutdown_libraries() {
    g_mime_shutdown();
}

} // namespace mugaika::gateway
