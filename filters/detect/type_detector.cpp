#include "filters/detect/type_detector.hpp"

#include <algorithm>
#include <cctype>

namespace mugaika::filters::detect {

bool looks_textual(std::span<const std::byte> bytes) noexcept {
    bytes = bytes.first(std::min<std::size_t>(bytes.size(), 8192));
    std::size_t controls = 0;
    for (std::byte b : bytes) {
        const auto c = static_cast<unsigned char>(b);
        if (c == 0) {
            return false;
        }
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b &&
            c != 0x0e && c != 0x0f) {
            ++controls;
        }
    }
    return controls * 50 <= bytes.size();
}

Result<TypeDetector> TypeDetector::create() {
    // Compressed files are reported as what they are, not what they contain; no checks that
    // read outside the buffer.
    MagicPtr m(magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR));
    if (!m) {
        return fail(ErrorCode::Internal, "detect.magic_unavailable", "magic_open failed");
    }
    if (magic_load(m.get(), nullptr) != 0) {
        const char* why = magic_error(m.get());
        return fail(ErrorCode::Internal, "detect.magic_unavailable", why != nullptr ? why : "");
    }
    return TypeDetector(std::move(m));
}

namespace {

bool inconclusive(std::string_view t) noexcept {
    return t == "application/octet-stream" || t == "application/x-ole-storage" ||
           t == "application/cdfv2" || t == "application/cdfv2-corrupt";
}

} // namespace

Result<std::string> TypeDetector::mime_type(std::span<const std::byte> bytes) const {
    if (bytes.empty()) {
        return std::string("application/x-empty");
    }
    if (bytes.size() > detect_prefix_bytes) {
        auto first = scan(bytes.first(detect_prefix_bytes));
        if (!first || !inconclusive(*first)) {
            return first;
        }
        if (bytes.size() > detect_full_scan_max) {
            return first;
        }
    }
    return scan(bytes);
}

Result<std::string> TypeDetector::scan(std::span<const std::byte> bytes) const {
    const char* type = magic_buffer(magic_.get(), bytes.data(), bytes.size());
    if (type == nullptr) {
        const char* why = magic_error(magic_.get());
        return fail(ErrorCode::Internal, "detect.failed", why != nullptr ? why : "");
    }
    std::string out(type);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

} // namespace mugaika::filters::detect
