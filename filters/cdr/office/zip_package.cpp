#include "filters/cdr/office/zip_package.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <set>

#include <zip.h>

namespace mugaika::filters::cdr::office {
namespace {

struct ZipDiscard {
    void operator()(zip_t* z) const noexcept { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipDiscard>;

struct ZipFileClose {
    void operator()(zip_file_t* f) const noexcept { zip_fclose(f); }
};
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileClose>;

struct ZipSourceFree {
    void operator()(zip_source_t* s) const noexcept { zip_source_free(s); }
};
using ZipSourcePtr = std::unique_ptr<zip_source_t, ZipSourceFree>;

struct ZipErrorFini {
    zip_error_t e{};
    ZipErrorFini() { zip_error_init(&e); }
    ~ZipErrorFini() { zip_error_fini(&e); }
    ZipErrorFini(const ZipErrorFini&) = delete;
    ZipErrorFini& operator=(const ZipErrorFini&) = delete;
};

/// Opens a zip over a borrowed buffer (read-only).
Result<ZipPtr> open_zip(const void* data, std::uint64_t size, std::string_view code,
                        ErrorCode error_code) {
    ZipErrorFini err;
    ZipSourcePtr src(zip_source_buffer_create(data, size, 0, &err.e));
    if (!src) {
        return fail(ErrorCode::Internal, code, zip_error_strerror(&err.e));
    }
    zip_t* z = zip_open_from_source(src.get(), ZIP_RDONLY | ZIP_CHECKCONS, &err.e);
    if (z == nullptr) {
        return fail(error_code, code, zip_error_strerror(&err.e));
    }
    (void)src.release(); // owned by the archive now
    return ZipPtr(z);
}

/// zlib level 1: OOXML/ODF parts are repetitive XML that level 1 packs nearly as well as the
/// default level 6, about four times faster (measured by tests/bench/cdr_office_bench.cpp).
constexpr zip_uint32_t compression_level = 1;

/// A fixed time stamp (2000-01-01) so the same input always gives the same bytes.
constexpr time_t fixed_mtime = 946684800;

} // namespace

bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xE0U) == 0xC0U) {
            n = 1;
            cp = c & 0x1FU;
        } else if ((c & 0xF0U) == 0xE0U) {
            n = 2;
            cp = c & 0x0FU;
        } else if ((c & 0xF8U) == 0xF0U) {
            n = 3;
            cp = c & 0x07U;
        } else {
            return false;
        }
        if (i + n >= s.size()) {
            return false;
        }
        for (std::size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0U) != 0x80U) {
                return false;
            }
            cp = (cp << 6U) | (cc & 0x3FU);
        }
        static constexpr std::array<std::uint32_t, 4> min_cp{0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

bool safe_member_name(std::string_view name) noexcept {
    if (name.empty() || name.front() == '/' || name.find('\\') != name.npos ||
        name.find('\0') != name.npos || !valid_utf8(name)) {
        return false;
    }
    if (name.size() >= 2 && name[1] == ':') { // "C:..."
        return false;
    }
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find('/', start);
        if (end == name.npos) {
            end = name.size();
        }
        const std::string_view seg = name.substr(start, end - start);
        if (seg == ".." || seg == ".") {
            return false;
        }
        if (seg.empty() && end != name.size()) { // "a//b"
            return false;
        }
        start = end + 1;
    }
    for (const char ch : name) {
        if (static_cast<unsigned char>(ch) < 0x20) {
            return false;
        }
    }
    return true;
}

Result<std::vector<ZipMember>> read_zip(std::span<const std::byte> in, const ZipLimits& limits,
                                        const ZipCodes& codes) {
    auto zr = open_zip(in.data(), in.size(), codes.not_zip, ErrorCode::Malformed);
    if (!zr) {
        return tl::unexpected(zr.error());
    }
    zip_t* z = zr->get();
    const zip_int64_t count = zip_get_num_entries(z, 0);
    if (count < 0) {
        return fail(ErrorCode::Malformed, codes.not_zip, "no central directory");
    }
    if (static_cast<std::uint64_t>(count) > limits.max_members) {
        return fail(ErrorCode::LimitExceeded, codes.too_many,
                    "members=" + std::to_string(count) +
                        " limit=" + std::to_string(limits.max_members));
    }
    std::vector<ZipMember> out;
    out.reserve(static_cast<std::size_t>(count));
    std::set<std::string> seen; // lower-case: OPC part names are case-insensitive
    std::uint64_t total = 0;
    std::array<char, 65536> buf{};
    for (zip_int64_t i = 0; i < count; ++i) {
        const auto idx = static_cast<zip_uint64_t>(i);
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(z, idx, ZIP_FL_ENC_RAW, &st) != 0 || (st.valid & ZIP_STAT_NAME) == 0) {
            return fail(ErrorCode::Malformed, codes.not_zip, "unreadable entry");
        }
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) != 0 && st.encryption_method != ZIP_EM_NONE) {
            return fail(ErrorCode::Malformed, codes.encrypted, "encrypted member");
        }
        std::string name(st.name);
        if (!name.empty() && name.back() == '/') {
            if (!safe_member_name(name.substr(0, name.size() - 1))) {
                return fail(ErrorCode::Malformed, codes.bad_name, "unsafe member name");
            }
            continue; // directory entries carry nothing
        }
        if (!safe_member_name(name)) {
            return fail(ErrorCode::Malformed, codes.bad_name, "unsafe member name");
        }
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
            return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        });
        if (!seen.insert(lower).second) {
            return fail(ErrorCode::Malformed, codes.bad_name, "duplicate member name");
        }
        ZipFilePtr f(zip_fopen_index(z, idx, 0));
        if (!f) {
            const int ze = zip_error_code_zip(zip_get_error(z));
            if (ze == ZIP_ER_NOPASSWD || ze == ZIP_ER_WRONGPASSWD || ze == ZIP_ER_ENCRNOTSUPP) {
                return fail(ErrorCode::Malformed, codes.encrypted, "encrypted member");
            }
            return fail(ErrorCode::Malformed, codes.not_zip, zip_strerror(z));
        }
        ZipMember m;
        m.name = std::move(name);
        if ((st.valid & ZIP_STAT_SIZE) != 0 && st.size <= limits.max_expanded - total &&
            st.size < (64ULL << 20U)) {
            m.data.reserve(static_cast<std::size_t>(st.size));
        }
        for (;;) {
            const zip_int64_t n = zip_fread(f.get(), buf.data(), buf.size());
            if (n < 0) {
                return fail(ErrorCode::Malformed, codes.not_zip, zip_file_strerror(f.get()));
            }
            if (n == 0) {
                break;
            }
            total += static_cast<std::uint64_t>(n);
            if (total > limits.max_expanded) {
                return fail(ErrorCode::LimitExceeded, codes.too_large,
                            "limit=" + std::to_string(limits.max_expanded));
            }
            m.data.append(buf.data(), static_cast<std::size_t>(n));
        }
        out.push_back(std::move(m));
    }
    return out;
}

Result<std::string> write_zip(const std::vector<ZipMember>& members,
                              std::string_view internal_code) {
    ZipErrorFini err;
    ZipSourcePtr src(zip_source_buffer_create(nullptr, 0, 0, &err.e));
    if (!src) {
        return fail(ErrorCode::Internal, internal_code, zip_error_strerror(&err.e));
    }
    zip_t* z = zip_open_from_source(src.get(), ZIP_TRUNCATE, &err.e);
    if (z == nullptr) {
        return fail(ErrorCode::Internal, internal_code, zip_error_strerror(&err.e));
    }
    zip_source_keep(src.get()); // read it back after zip_close
    ZipPtr archive(z);
    for (const ZipMember& m : members) {
        zip_source_t* data = zip_source_buffer(z, m.data.data(), m.data.size(), 0);
        if (data == nullptr) {
            return fail(ErrorCode::Internal, internal_code, zip_strerror(z));
        }
        const zip_int64_t idx = zip_file_add(z, m.name.c_str(), data, ZIP_FL_ENC_UTF_8);
        if (idx < 0) {
            zip_source_free(data);
            return fail(ErrorCode::Internal, internal_code, zip_strerror(z));
        }
        const auto u = static_cast<zip_uint64_t>(idx);
        if (zip_set_file_compression(z, u, m.stored ? ZIP_CM_STORE : ZIP_CM_DEFLATE,
                                     compression_level) != 0 ||
            zip_file_set_mtime(z, u, fixed_mtime, 0) != 0) {
            return fail(ErrorCode::Internal, internal_code, zip_strerror(z));
        }
    }
    if (zip_close(z) != 0) {
        return fail(ErrorCode::Internal, internal_code, zip_strerror(z));
    }
    (void)archive.release(); // zip_close freed it
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_stat(src.get(), &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0 ||
        zip_source_open(src.get()) != 0) {
        return fail(ErrorCode::Internal, internal_code, "cannot read the written zip");
    }
    std::string out(static_cast<std::size_t>(st.size), '\0');
    const zip_int64_t n = zip_source_read(src.get(), out.data(), st.size);
    zip_source_close(src.get());
    if (n < 0 || static_cast<zip_uint64_t>(n) != st.size) {
        return fail(ErrorCode::Internal, internal_code, "short read of the written zip");
    }
    return out;
}

Result<std::vector<ZipEntryInfo>> list_zip(std::string_view in, std::string_view code) {
    auto zr = open_zip(in.data(), in.size(), code, ErrorCode::Internal);
    if (!zr) {
        return tl::unexpected(zr.error());
    }
    const zip_int64_t count = zip_get_num_entries(zr->get(), 0);
    std::vector<ZipEntryInfo> out;
    for (zip_int64_t i = 0; i < count; ++i) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(zr->get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW, &st) != 0) {
            return fail(ErrorCode::Internal, code, "unreadable entry");
        }
        out.push_back({st.name, st.comp_method == ZIP_CM_STORE});
    }
    return out;
}

} // namespace mugaika::filters::cdr::office
