#include "filters/archive/archive_inspector.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <utility>

#include <archive.h>
#include <archive_entry.h>
#include <iconv.h>
#include <locale.h>

#include "filters/core/cptr.hpp"

namespace mugaika::filters::archive {
namespace {

constexpr std::size_t read_chunk = 64 * 1024;    // one archive_read_data call
constexpr std::size_t detect_prefix = 64 * 1024; // bytes kept for detect() and sniffing

using ReaderPtr = CPtr<struct archive, archive_read_free>;
using IconvPtr = CPtr<void, iconv_close>; // per call; iconv_t is not thread-safe

/// Switches the calling thread (only) to a UTF-8 LC_CTYPE so libarchive converts UTF-8 and
/// UTF-16 names to UTF-8 instead of failing in the "C" locale; restores the previous one.
class ThreadUtf8Locale {
public:
    ThreadUtf8Locale() {
        loc_ = newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
        if (loc_ != nullptr) {
            old_ = uselocale(loc_);
        }
    }
    ~ThreadUtf8Locale() {
        if (loc_ != nullptr) {
            uselocale(old_);
            freelocale(loc_);
        }
    }
    ThreadUtf8Locale(const ThreadUtf8Locale&) = delete;
    ThreadUtf8Locale& operator=(const ThreadUtf8Locale&) = delete;
    [[nodiscard]] bool ok() const noexcept { return loc_ != nullptr && old_ != nullptr; }

private:
    locale_t loc_ = nullptr;
    locale_t old_ = nullptr;
};

[[nodiscard]] bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        char32_t cp = 0;
        if (b < 0x80) {
            ++i;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
            cp = b & 0x1FU;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            cp = b & 0x0FU;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            cp = b & 0x07U;
        } else {
            return false;
        }
        if (i + len > s.size()) {
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0U) != 0x80U) {
                return false;
            }
            cp = (cp << 6U) | (c & 0x3FU);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

/// Control bytes (and, when `high` is set, every byte >= 0x80) as \xNN.
[[nodiscard]] std::string escape_bytes(std::string_view s, bool high) {
    static constexpr std::string_view hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (const char ch : s) {
        const auto b = static_cast<unsigned char>(ch);
        if (b < 0x20 || b == 0x7F || (high && b >= 0x80)) {
            out += "\\x";
            out += hex[b >> 4U];
            out += hex[b & 0x0FU];
        } else {
            out += ch;
        }
    }
    return out;
}

/// State of one inspect() call.
struct Walk {
    Walk(const ArchiveLimits& l, const std::function<std::string(std::span<const std::byte>)>& d,
         std::uint64_t size)
        : limits(l), detect(d), input_size(size) {}

    const ArchiveLimits& limits;
    const std::function<std::string(std::span<const std::byte>)>& detect;
    std::uint64_t input_size = 0;
    ArchiveReport report;
    std::size_t entries = 0;
    bool encrypted = false;
    bool corrupt = false;
    std::string_view limit_reason; // set: stop everything
    IconvPtr cp932;
    bool cp932_tried = false;
    std::vector<std::byte> chunk = std::vector<std::byte>(read_chunk);

    [[nodiscard]] bool stopped() const noexcept { return !limit_reason.empty(); }

    [[nodiscard]] std::optional<std::string> from_cp932(std::string_view raw) {
        if (!cp932_tried) {
            cp932_tried = true;
            iconv_t cd = iconv_open("UTF-8", "CP932");
            if (cd != reinterpret_cast<iconv_t>(static_cast<std::intptr_t>(-1))) {
                cp932 = IconvPtr(cd);
            }
        }
        if (!cp932) {
            return std::nullopt;
        }
        std::string out(raw.size() * 3 + 4, '\0');
        // iconv's prototype takes char** but never writes through the input pointer.
        char* inp = const_cast<char*>(raw.data());
        std::size_t inleft = raw.size();
        char* outp = out.data();
        std::size_t outleft = out.size();
        iconv(cp932.get(), nullptr, nullptr, nullptr, nullptr);
        if (iconv(cp932.get(), &inp, &inleft, &outp, &outleft) == static_cast<std::size_t>(-1) ||
            inleft != 0) {
            return std::nullopt;
        }
        out.resize(out.size() - outleft);
        if (!valid_utf8(out)) {
            return std::nullopt;
        }
        return out;
    }

    [[nodiscard]] std::string member_name(std::string_view raw) {
        if (valid_utf8(raw)) {
            return escape_bytes(raw, false);
        }
        if (auto u = from_cp932(raw)) {
            return escape_bytes(*u, false);
        }
        return escape_bytes(raw, true);
    }
};

[[nodiscard]] bool registered(int r) noexcept {
    // ARCHIVE_WARN from a filter means "via an external program": never spawn programs.
    return r == ARCHIVE_OK;
}

[[nodiscard]] ReaderPtr new_reader() {
    ReaderPtr a(archive_read_new());
    if (!a) {
        return a;
    }
    struct archive* p = a.get();
    const bool ok = registered(archive_read_support_filter_gzip(p)) &&
                    registered(archive_read_support_filter_bzip2(p)) &&
                    registered(archive_read_support_filter_xz(p)) &&
                    registered(archive_read_support_filter_lzma(p)) &&
                    registered(archive_read_support_filter_zstd(p)) &&
                    registered(archive_read_support_format_zip(p)) &&
                    registered(archive_read_support_format_7zip(p)) &&
                    registered(archive_read_support_format_rar(p)) &&
                    registered(archive_read_support_format_rar5(p)) &&
                    registered(archive_read_support_format_tar(p)) &&
                    registered(archive_read_support_format_lha(p)) &&
                    registered(archive_read_support_format_cab(p)) &&
                    registered(archive_read_support_format_iso9660(p)) &&
                    registered(archive_read_support_format_raw(p));
    if (!ok) {
        a.reset();
    }
    return a;
}

[[nodiscard]] std::string_view filter_suffix(int filter) noexcept {
    switch (filter) {
    case ARCHIVE_FILTER_GZIP:
        return "gz";
    case ARCHIVE_FILTER_BZIP2:
        return "bz2";
    case ARCHIVE_FILTER_XZ:
        return "xz";
    case ARCHIVE_FILTER_LZMA:
        return "lzma";
    case ARCHIVE_FILTER_ZSTD:
        return "zst";
    default:
        return "";
    }
}

[[nodiscard]] std::string_view filter_name(int filter) noexcept {
    switch (filter) {
    case ARCHIVE_FILTER_GZIP:
        return "gzip";
    case ARCHIVE_FILTER_BZIP2:
        return "bzip2";
    case ARCHIVE_FILTER_XZ:
        return "xz";
    case ARCHIVE_FILTER_LZMA:
        return "lzma";
    case ARCHIVE_FILTER_ZSTD:
        return "zstd";
    default:
        return "";
    }
}

[[nodiscard]] std::string format_name(int format, int filter) {
    switch (format & ARCHIVE_FORMAT_BASE_MASK) {
    case ARCHIVE_FORMAT_ZIP:
        return "zip";
    case ARCHIVE_FORMAT_7ZIP:
        return "7z";
    case ARCHIVE_FORMAT_RAR:
        return "rar";
    case ARCHIVE_FORMAT_RAR_V5:
        return "rar5";
    case ARCHIVE_FORMAT_TAR: {
        std::string s = "tar";
        if (const auto suffix = filter_suffix(filter); !suffix.empty()) {
            s += '.';
            s += suffix;
        }
        return s;
    }
    case ARCHIVE_FORMAT_LHA:
        return "lzh";
    case ARCHIVE_FORMAT_CAB:
        return "cab";
    case ARCHIVE_FORMAT_ISO9660:
        return "iso9660";
    case ARCHIVE_FORMAT_RAW:
        return std::string(filter_name(filter));
    default:
        return "unknown";
    }
}

/// The name of the single file inside a compressed file called `hint`.
[[nodiscard]] std::string raw_member_name(std::string_view hint) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> suffixes{{
        {".tgz", ".tar"},
        {".gz", ""},
        {".bz2", ""},
        {".xz", ""},
        {".lzma", ""},
        {".zst", ""},
        {".z", ""},
        {".tbz2", ".tar"},
    }};
    std::string lower(hint);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    for (const auto& [suffix, replacement] : suffixes) {
        if (lower.size() > suffix.size() && lower.ends_with(suffix)) {
            std::string s(hint.substr(0, hint.size() - suffix.size()));
            s += replacement;
            return s;
        }
    }
    return hint.empty() ? std::string("data") : std::string(hint);
}

[[nodiscard]] bool starts_with_at(std::span<const std::byte> b, std::size_t at,
                                  std::string_view magic) {
    return b.size() >= at + magic.size() &&
           std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
}

/// Whether a member may be an archive worth buffering whole to list it (libarchive decides).
[[nodiscard]] bool looks_like_archive(std::span<const std::byte> b) {
    using namespace std::string_view_literals;
    if (starts_with_at(b, 0, "PK\x03\x04"sv) || starts_with_at(b, 0, "PK\x05\x06"sv) ||
        starts_with_at(b, 0, "PK\x07\x08"sv) || starts_with_at(b, 0, "7z\xBC\xAF\x27\x1C"sv) ||
        starts_with_at(b, 0, "Rar!\x1A\x07"sv) || starts_with_at(b, 0, "\x1F\x8B"sv) ||
        starts_with_at(b, 0, "BZh"sv) ||
        starts_with_at(b, 0,
                       "\xFD"
                       "7zXZ\x00"sv) ||
        starts_with_at(b, 0, "\x5D\x00\x00"sv) || starts_with_at(b, 0, "\x28\xB5\x2F\xFD"sv) ||
        starts_with_at(b, 0, "MSCF"sv) || starts_with_at(b, 257, "ustar"sv) ||
        starts_with_at(b, 0x8001, "CD001"sv)) {
        return true;
    }
    // LHA: "-lh?-" / "-lz?-" at offset 2.
    return (starts_with_at(b, 2, "-lh"sv) || starts_with_at(b, 2, "-lz"sv)) &&
           starts_with_at(b, 6, "-"sv);
}

[[nodiscard]] std::string join_outer(const std::string& outer, const std::string& path) {
    return outer.empty() ? path : outer + "/" + path;
}

/// Outcome of reading one member's data.
enum class Data : std::uint8_t { Done, Broken, Stop };

/// Reads the current entry's data in chunks, counting every inflated byte and checking the
/// limits after each chunk. Keeps the first detect_prefix bytes, or everything (up to
/// max_member_size) when the member looks like an archive.
[[nodiscard]] Data read_member(Walk& w, struct archive* a, Member& m,
                               std::vector<std::byte>& keep) {
    const ArchiveLimits& lim = w.limits;
    bool decided = false;
    bool keep_all = false;
    for (;;) {
        // Never inflate more than max_total_size + 1 bytes in all.
        const std::uint64_t left = lim.max_total_size + 1 - w.report.expanded;
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(read_chunk, left));
        const la_ssize_t n = archive_read_data(a, w.chunk.data(), want);
        if (n == 0) {
            break;
        }
        if (n < 0) {
            if (archive_read_has_encrypted_entries(a) > 0) {
                m.encrypted = true;
                w.encrypted = true;
            } else {
                w.corrupt = true;
            }
            return Data::Broken;
        }
        const auto got = static_cast<std::size_t>(n);
        w.report.expanded += got;
        m.size += got;
        if (!decided || keep_all) {
            const std::size_t room = keep_all ? got : std::min(got, detect_prefix - keep.size());
            keep.insert(keep.end(), w.chunk.begin(),
                        w.chunk.begin() + static_cast<std::ptrdiff_t>(room));
            if (!decided && keep.size() >= detect_prefix) {
                decided = true;
                keep_all = looks_like_archive(keep);
            }
        }
        if (m.size > lim.max_member_size || w.report.expanded > lim.max_total_size) {
            w.limit_reason = "archive.size_exceeded";
            return Data::Stop;
        }
        if (w.report.expanded >= lim.min_ratio_size &&
            static_cast<double>(w.report.expanded) >
                lim.max_ratio * static_cast<double>(w.input_size)) {
            w.limit_reason = "archive.ratio_exceeded";
            return Data::Stop;
        }
    }
    if (!decided) {
        keep_all = looks_like_archive(keep);
    }
    if (!keep_all && keep.size() > detect_prefix) {
        keep.resize(detect_prefix);
    }
    return Data::Done;
}

/// Lists `bytes` as an archive whose members are at `depth`. Returns false (nothing listed)
/// when libarchive does not see an archive. Internal errors only for libarchive setup.
[[nodiscard]] Result<bool> list(Walk& w, std::span<const std::byte> bytes, const std::string& outer,
                                std::size_t depth, std::string_view name_hint) {
    if (bytes.empty()) {
        return false;
    }
    ReaderPtr reader = new_reader();
    if (!reader) {
        return fail(ErrorCode::Internal, "archive.internal", "libarchive reader setup failed");
    }
    struct archive* a = reader.get();
    if (archive_read_open_memory(a, bytes.data(), bytes.size()) != ARCHIVE_OK) {
        // A compression filter recognised its signature and failed at once.
        w.corrupt = true;
        return true;
    }
    struct archive_entry* e = nullptr;
    int r = archive_read_next_header(a, &e);
    const int filter = archive_filter_code(a, 0);
    const int format = archive_format(a);
    if ((format & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_RAW && filter_name(filter).empty()) {
        return false; // plain data: libarchive's raw reader accepts anything
    }
    if (depth == 1) {
        w.report.format = format_name(format, filter);
    }
    if (depth > w.limits.max_depth) {
        w.limit_reason = "archive.depth_exceeded";
        return true;
    }
    const bool raw = (format & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_RAW;
    for (; r != ARCHIVE_EOF; r = archive_read_next_header(a, &e)) {
        if (r < ARCHIVE_WARN) {
            if (archive_read_has_encrypted_entries(a) > 0) {
                w.encrypted = true; // e.g. a 7z whose header is encrypted
            } else {
                w.corrupt = true;
            }
            break;
        }
        if (++w.entries > w.limits.max_members) {
            w.limit_reason = "archive.members_exceeded";
            return true;
        }
        if (archive_entry_filetype(e) == AE_IFDIR) {
            continue;
        }
        Member m;
        if (raw) {
            m.path = w.member_name(raw_member_name(name_hint));
        } else {
            const char* p = archive_entry_pathname(e);
            if (p == nullptr) {
                p = archive_entry_pathname_utf8(e);
            }
            m.path = w.member_name(p != nullptr ? std::string_view(p) : std::string_view());
        }
        m.outer = outer;
        m.depth = depth;
        if (archive_entry_is_encrypted(e) != 0) {
            // PPAP: the data cannot be read without the password; never try one.
            m.encrypted = true;
            w.encrypted = true;
            if (archive_entry_size_is_set(e) != 0 && archive_entry_size(e) > 0) {
                m.size = static_cast<std::uint64_t>(archive_entry_size(e));
            }
            w.report.members.push_back(std::move(m));
            continue;
        }
        std::vector<std::byte> keep;
        const Data d = read_member(w, a, m, keep);
        if (w.detect && !keep.empty()) {
            m.type = w.detect(
                std::span<const std::byte>(keep).first(std::min(keep.size(), detect_prefix)));
        }
        const std::size_t index = w.report.members.size();
        w.report.members.push_back(std::move(m));
        if (d != Data::Done) {
            return true; // Stop: a limit; Broken: the rest of this archive is unreadable
        }
        if (keep.size() > detect_prefix || looks_like_archive(keep)) {
            const Member& mm = w.report.members[index];
            auto nested = list(w, keep, join_outer(outer, mm.path), depth + 1, mm.path);
            if (!nested) {
                return tl::unexpected(std::move(nested.error()));
            }
            w.report.members[index].is_archive = *nested;
            if (w.stopped()) {
                return true;
            }
        }
    }
    return true;
}

} // namespace

ArchiveInspector::ArchiveInspector(ArchiveLimits limits,
                                   std::function<std::string(std::span<const std::byte>)> detect)
    : limits_(limits), detect_(std::move(detect)) {}

Result<ArchiveReport> ArchiveInspector::inspect(std::span<const std::byte> bytes,
                                                std::string_view name_hint) const {
    try {
        const ThreadUtf8Locale locale;
        if (!locale.ok()) {
            return fail(ErrorCode::Internal, "archive.internal", "C.UTF-8 locale unavailable");
        }
        Walk w(limits_, detect_, bytes.size());
        auto listed = list(w, bytes, std::string(), 1, name_hint);
        if (!listed) {
            return tl::unexpected(std::move(listed.error()));
        }
        ArchiveReport& rep = w.report;
        if (w.stopped()) {
            rep.status = ArchiveStatus::LimitExceeded;
            rep.reason = std::string(w.limit_reason);
        } else if (!*listed) {
            rep = ArchiveReport{};
        } else if (w.encrypted) {
            rep.status = ArchiveStatus::Encrypted;
            rep.reason = "archive.encrypted";
        } else if (w.corrupt) {
            rep.status = ArchiveStatus::Corrupt;
            rep.reason = "archive.corrupt";
        } else {
            rep.status = ArchiveStatus::Listed;
        }
        return std::move(rep);
    } catch (const std::bad_alloc&) {
        return fail(ErrorCode::Internal, "archive.internal", "out of memory");
    } catch (const std::exception& ex) {
        return fail(ErrorCode::Internal, "archive.internal", ex.what());
    }
}

} // namespace mugaika::filters::archive
