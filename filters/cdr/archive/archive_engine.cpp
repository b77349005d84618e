// The archive engine: a zip is rebuilt as a new zip (libzip, memory to memory) whose members
// are each rebuilt by their own engine; members no engine rebuilds are dropped and listed.
// Nothing of the input's structure is copied: no comments, extra fields, encryption headers,
// data before the first or after the last member, or duplicate and unsafe names.
// See docs/cdr/images-archives-text.md.
#include <algorithm>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <zip.h>

#include "filters/cdr/cdr.hpp"
#include "filters/core/cptr.hpp"
#include "filters/detect/type_detector.hpp"
#include "filters/text/charset.hpp"

namespace mugaika::filters::cdr {
namespace {

using ZipPtr = CPtr<zip_t, zip_discard>;
using ZipFilePtr = CPtr<zip_file_t, zip_fclose>;
using SourcePtr = CPtr<zip_source_t, zip_source_free>;

/// Bytes read per zip_fread call.
constexpr std::size_t read_chunk = 64 * 1024;

/// What the whole tree of archives (the top one and every nested one) may still use.
struct Budget {
    std::uint64_t members = 0;
    std::uint64_t expanded = 0;
};

struct Context {
    const Options& options;
    const detect::TypeDetector& detector;
    Budget& budget;
    std::vector<Removed>& removed;
};

/// One member of the rebuilt archive.
struct Member {
    std::string name; ///< UTF-8, '/'-separated; directories end in '/'
    std::string data;
    std::time_t mtime = 0;
};

std::string zip_detail(zip_error_t* e) {
    return e != nullptr ? std::string(zip_error_strerror(e)) : std::string();
}

/// Opens `in` (borrowed for the life of the archive) read-only; nullptr and `error` set when
/// libzip cannot read it as a zip.
ZipPtr open_zip(std::span<const std::byte> in, int flags, std::string& error) {
    zip_error_t err;
    zip_error_init(&err);
    SourcePtr src(zip_source_buffer_create(in.data(), in.size(), 0, &err));
    if (!src) {
        error = zip_detail(&err);
        zip_error_fini(&err);
        return nullptr;
    }
    ZipPtr za(zip_open_from_source(src.get(), flags, &err));
    if (!za) {
        error = zip_detail(&err);
        zip_error_fini(&err);
        return nullptr;
    }
    (void)src.release(); // the archive owns the source now
    zip_error_fini(&err);
    return za;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return out;
}

/// A member name as UTF-8: kept when it is valid UTF-8 (flagged or not), else read as CP932,
/// what Japanese Windows writes without the UTF-8 flag. Backslashes become '/' only after the
/// conversion: the second byte of a CP932 character may be 0x5C ("ソ" is 83 5C).
std::string utf8_name(std::string_view raw) {
    std::string name;
    if (text::is_valid_utf8(raw)) {
        name.assign(raw);
    } else if (auto d = text::decode_to_utf8(raw, "cp932", 4 * raw.size() + 16); d) {
        name = std::move(d->utf8);
    } else {
        std::size_t replaced = 0;
        name = text::sanitize_utf8(raw, replaced);
    }
    std::replace(name.begin(), name.end(), '\\', '/');
    return name;
}

/// Whether a name could write outside the directory it is extracted to, or carries controls.
bool unsafe_path(std::string_view name) {
    if (name.empty() || name.front() == '/' || (name.size() >= 2 && name[1] == ':')) { // "C:..."
        return true;
    }
    if (std::any_of(name.begin(), name.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u < 0x20 || u == 0x7F;
        })) {
        return true;
    }
    std::string_view rest = name;
    if (rest.back() == '/') {
        rest.remove_suffix(1);
    }
    while (!rest.empty()) {
        const std::size_t slash = rest.find('/');
        const std::string_view part = rest.substr(0, slash);
        if (part.empty() || part == "." || part == "..") {
            return true;
        }
        if (slash == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(slash + 1);
    }
    return false;
}

std::string extension_of(std::string_view name) {
    const std::size_t slash = name.rfind('/');
    const std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
    const std::size_t dot = base.rfind('.');
    return dot == std::string_view::npos ? std::string() : ascii_lower(base.substr(dot + 1));
}

void drop(Context& ctx, const std::string& path, std::string_view reason) {
    ctx.removed.push_back({"archive.member_dropped", path + " (" + std::string(reason) + ")", ""});
}

/// An empty zip: the end of central directory record alone (libzip writes nothing at all for
/// an archive without entries).
std::string empty_zip() {
    std::string z("PK\x05\x06", 4);
    z.append(18, '\0');
    return z;
}

Result<std::string> write_zip(const std::vector<Member>& members) {
    if (members.empty()) {
        return empty_zip();
    }
    zip_error_t err;
    zip_error_init(&err);
    SourcePtr src(zip_source_buffer_create(nullptr, 0, 0, &err));
    if (!src) {
        zip_error_fini(&err);
        return fail(ErrorCode::Internal, "cdr.archive.write_failed", "source");
    }
    // Two references: the archive takes one (released by zip_close or zip_discard), `src`
    // keeps the other to read the result back.
    zip_source_keep(src.get());
    ZipPtr out(zip_open_from_source(src.get(), ZIP_TRUNCATE, &err));
    zip_error_fini(&err);
    if (!out) {
        zip_source_free(src.get()); // the reference the archive did not take
        return fail(ErrorCode::Internal, "cdr.archive.write_failed", "open");
    }
    for (const Member& m : members) {
        zip_int64_t idx = -1;
        if (!m.name.empty() && m.name.back() == '/') {
            idx = zip_dir_add(out.get(), m.name.c_str(), ZIP_FL_ENC_UTF_8);
        } else {
            zip_source_t* data = zip_source_buffer(out.get(), m.data.data(), m.data.size(), 0);
            if (data == nullptr) {
                return fail(ErrorCode::Internal, "cdr.archive.write_failed",
                            zip_detail(zip_get_error(out.get())));
            }
            idx = zip_file_add(out.get(), m.name.c_str(), data, ZIP_FL_ENC_UTF_8);
            if (idx < 0) {
                zip_source_free(data);
            } else if (zip_set_file_compression(out.get(), static_cast<zip_uint64_t>(idx),
                                                ZIP_CM_DEFLATE, 6) != 0) {
                idx = -1;
            }
        }
        if (idx < 0 ||
            zip_file_set_mtime(out.get(), static_cast<zip_uint64_t>(idx), m.mtime, 0) != 0) {
            return fail(ErrorCode::Internal, "cdr.archive.write_failed",
                        zip_detail(zip_get_error(out.get())));
        }
    }
    if (zip_close(out.get()) != 0) {
        return fail(ErrorCode::Internal, "cdr.archive.write_failed",
                    zip_detail(zip_get_error(out.get())));
    }
    (void)out.release(); // zip_close freed it
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_stat(src.get(), &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0 ||
        zip_source_open(src.get()) != 0) {
        return fail(ErrorCode::Internal, "cdr.archive.write_failed", "read back");
    }
    std::string bytes(st.size, '\0');
    const zip_int64_t n = zip_source_read(src.get(), bytes.data(), bytes.size());
    zip_source_close(src.get());
    if (n < 0 || static_cast<zip_uint64_t>(n) != st.size) {
        return fail(ErrorCode::Internal, "cdr.archive.write_failed", "read back");
    }
    return bytes;
}

/// Re-opens the rebuilt zip: consistent, unencrypted, the same names (with the UTF-8 flag where
/// they are not ASCII) in the same order, every member readable with the bytes written.
Result<void> verify(const std::string& bytes, const std::vector<Member>& members) {
    std::string error;
    const ZipPtr za = open_zip(std::as_bytes(std::span(bytes.data(), bytes.size())),
                               ZIP_RDONLY | ZIP_CHECKCONS, error);
    if (!za || zip_get_num_entries(za.get(), 0) != static_cast<zip_int64_t>(members.size())) {
        return fail(ErrorCode::Internal, "cdr.archive.verify_failed", "listing");
    }
    std::string buf;
    for (std::size_t i = 0; i < members.size(); ++i) {
        const char* strict = zip_get_name(za.get(), i, ZIP_FL_ENC_STRICT);
        zip_stat_t st;
        if (strict == nullptr || members[i].name != strict ||
            zip_stat_index(za.get(), i, 0, &st) != 0 ||
            ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) != 0 && st.encryption_method != ZIP_EM_NONE)) {
            return fail(ErrorCode::Internal, "cdr.archive.verify_failed", "member name");
        }
        const ZipFilePtr f(zip_fopen_index(za.get(), i, 0));
        if (!f) {
            return fail(ErrorCode::Internal, "cdr.archive.verify_failed", "member open");
        }
        buf.resize(members[i].data.size() + 1);
        zip_int64_t got = 0;
        zip_int64_t n = 0;
        while ((n = zip_fread(f.get(), buf.data() + got,
                              buf.size() - static_cast<std::size_t>(got))) > 0) {
            got += n;
            if (static_cast<std::size_t>(got) == buf.size()) {
                break;
            }
        }
        if (n < 0 || static_cast<std::size_t>(got) != members[i].data.size() ||
            std::string_view(buf.data(), members[i].data.size()) != members[i].data) {
            return fail(ErrorCode::Internal, "cdr.archive.verify_failed", "member content");
        }
    }
    return {};
}

/// Inflates member `i`, counting every byte against the budget (headers lie: a member that
/// inflates past its declared size, or the tree past max_expanded_size, is a bomb).
Result<std::string> read_member(zip_t* za, zip_uint64_t i, std::uint64_t declared, Context& ctx) {
    const ZipFilePtr f(zip_fopen_index(za, i, 0));
    if (!f) {
        return fail(ErrorCode::Malformed, "cdr.archive.malformed",
                    "member " + std::to_string(i) + ": " + zip_detail(zip_get_error(za)));
    }
    const std::uint64_t max = ctx.options.max_expanded_size;
    std::string data;
    data.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(declared, 64ULL << 20U)));
    char chunk[read_chunk];
    for (;;) {
        const zip_int64_t n = zip_fread(f.get(), chunk, sizeof chunk);
        if (n < 0) {
            return fail(ErrorCode::Malformed, "cdr.archive.malformed",
                        "member " + std::to_string(i) + ": " +
                            zip_detail(zip_file_get_error(f.get())));
        }
        if (n == 0) {
            break;
        }
        ctx.budget.expanded += static_cast<std::uint64_t>(n);
        if (ctx.budget.expanded > max) {
            return fail(ErrorCode::LimitExceeded, "cdr.archive.bomb",
                        "inflated past " + std::to_string(max) + " bytes");
        }
        data.append(chunk, static_cast<std::size_t>(n));
        if (data.size() > declared) {
            return fail(ErrorCode::LimitExceeded, "cdr.archive.bomb",
                        "member " + std::to_string(i) + " inflates past its declared size");
        }
    }
    return data;
}

/// Rebuilds the zip `in` at nesting `depth` (the top archive is 1). `prefix` names where it is
/// ("" for the top, "a.zip/" inside a.zip) for the removal list.
Result<std::string> rebuild_zip(std::span<const std::byte> in, unsigned depth,
                                const std::string& prefix, Context& ctx) {
    std::string error;
    const ZipPtr za = open_zip(in, ZIP_RDONLY, error);
    if (!za) {
        return fail(ErrorCode::Malformed, "cdr.archive.malformed", error);
    }
    const zip_int64_t count = zip_get_num_entries(za.get(), 0);
    if (count < 0) {
        return fail(ErrorCode::Malformed, "cdr.archive.malformed", "entry count");
    }
    const Options& o = ctx.options;
    if (ctx.budget.members + static_cast<std::uint64_t>(count) > o.max_archive_members) {
        return fail(ErrorCode::LimitExceeded, "cdr.archive.too_many_members",
                    std::to_string(ctx.budget.members + static_cast<std::uint64_t>(count)) +
                        " members");
    }
    ctx.budget.members += static_cast<std::uint64_t>(count);
    // Refuse any encryption before reading anything: passwords are never tried.
    for (zip_int64_t i = 0; i < count; ++i) {
        zip_stat_t st;
        if (zip_stat_index(za.get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW, &st) != 0) {
            return fail(ErrorCode::Malformed, "cdr.archive.malformed",
                        "member " + std::to_string(i));
        }
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) != 0 && st.encryption_method != ZIP_EM_NONE) {
            return fail(ErrorCode::Malformed, "cdr.archive.encrypted",
                        "member " + std::to_string(i));
        }
    }
    if (int len = 0;
        zip_get_archive_comment(za.get(), &len, ZIP_FL_ENC_RAW) != nullptr && len > 0) {
        ctx.removed.push_back({"archive.comment", prefix.empty() ? "archive" : prefix, ""});
    }

    std::vector<Member> members;
    std::vector<std::string> taken; // lower-cased names already written
    for (zip_int64_t si = 0; si < count; ++si) {
        const auto i = static_cast<zip_uint64_t>(si);
        zip_stat_t st;
        if (zip_stat_index(za.get(), i, ZIP_FL_ENC_RAW, &st) != 0 || st.name == nullptr) {
            return fail(ErrorCode::Malformed, "cdr.archive.malformed",
                        "member " + std::to_string(i));
        }
        const std::string name = utf8_name(st.name);
        const std::string path = prefix + name;
        if (zip_uint32_t clen = 0;
            zip_file_get_comment(za.get(), i, &clen, ZIP_FL_ENC_RAW) != nullptr && clen > 0) {
            ctx.removed.push_back({"archive.comment", path, ""});
        }
        if (unsafe_path(name)) {
            drop(ctx, path, "unsafe_path");
            continue;
        }
        zip_uint8_t opsys = 0;
        zip_uint32_t attributes = 0;
        if (zip_file_get_external_attributes(za.get(), i, 0, &opsys, &attributes) == 0 &&
            opsys == ZIP_OPSYS_UNIX) {
            const std::uint32_t type = (attributes >> 16U) & S_IFMT;
            if (type != 0 && type != S_IFREG && type != S_IFDIR) {
                drop(ctx, path, "not_a_regular_file");
                continue;
            }
        }
        const std::time_t mtime = (st.valid & ZIP_STAT_MTIME) != 0 ? st.mtime : 0;
        const std::uint64_t declared = (st.valid & ZIP_STAT_SIZE) != 0 ? st.size : 0;
        if (name.back() == '/') {
            if (std::find(taken.begin(), taken.end(), ascii_lower(name)) == taken.end()) {
                taken.push_back(ascii_lower(name));
                members.push_back({name, {}, mtime});
            }
            continue;
        }
        if (ctx.budget.expanded + declared > o.max_expanded_size) {
            return fail(ErrorCode::LimitExceeded, "cdr.archive.bomb",
                        "declared sizes exceed " + std::to_string(o.max_expanded_size) + " bytes");
        }
        auto data = read_member(za.get(), i, declared, ctx);
        if (!data) {
            return tl::unexpected(data.error());
        }
        const std::size_t slash = name.rfind('/');
        const std::string dir = slash == std::string::npos ? "" : name.substr(0, slash + 1);
        const std::string base = name.substr(dir.size());
        Member m{name, {}, mtime};
        if (!data->empty()) {
            const auto bytes = std::as_bytes(std::span(data->data(), data->size()));
            auto type = ctx.detector.mime_type(bytes);
            if (!type) {
                return fail(ErrorCode::Internal, "cdr.archive.detect_failed", type.error().detail);
            }
            const std::string_view engine = engine_for(*type, extension_of(name));
            if (engine.empty()) {
                drop(ctx, path, "no_engine " + *type);
                continue;
            }
            if (engine == "archive") {
                if (depth + 1 > o.max_archive_depth) {
                    drop(ctx, path, "too_deep");
                    continue;
                }
                auto nested = rebuild_zip(bytes, depth + 1, path + "/", ctx);
                if (!nested) {
                    if (nested.error().code == ErrorCode::LimitExceeded) {
                        return nested; // the budget is the whole tree's
                    }
                    drop(ctx, path, nested.error().what);
                    continue;
                }
                m.data = std::move(*nested);
            } else {
                auto rebuilt = rebuild_with(engine, bytes, base, o);
                if (!rebuilt) {
                    drop(ctx, path, rebuilt.error().what);
                    continue;
                }
                for (Removed& r : rebuilt->removed) {
                    r.location = path + ": " + r.location;
                    ctx.removed.push_back(std::move(r));
                }
                m.name = dir + rebuilt->filename;
                m.data = std::move(rebuilt->bytes);
            }
        }
        if (std::find(taken.begin(), taken.end(), ascii_lower(m.name)) != taken.end()) {
            drop(ctx, path, "duplicate_name");
            continue;
        }
        taken.push_back(ascii_lower(m.name));
        members.push_back(std::move(m));
    }

    auto bytes = write_zip(members);
    if (!bytes) {
        return bytes;
    }
    if (bytes->size() > o.max_output_size) {
        return fail(ErrorCode::LimitExceeded, "cdr.output_too_large",
                    "size=" + std::to_string(bytes->size()));
    }
    if (auto ok = verify(*bytes, members); !ok) {
        return tl::unexpected(ok.error());
    }
    return bytes;
}

class ArchiveEngine final : public Engine {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "archive"; }

    [[nodiscard]] Result<Output> rebuild(std::span<const std::byte> in, std::string_view filename,
                                         const Options& options) const override {
        auto detector = detect::TypeDetector::create();
        if (!detector) {
            return fail(ErrorCode::Internal, "cdr.archive.detect_failed",
                        std::string(detector.error().what));
        }
        Budget budget;
        Output out;
        Context ctx{options, *detector, budget, out.removed};
        auto bytes = rebuild_zip(in, 1, "", ctx);
        if (!bytes) {
            return tl::unexpected(bytes.error());
        }
        out.bytes = std::move(*bytes);
        out.filename = std::string(filename);
        out.content_type = "application/zip";
        return out;
    }
};

} // namespace

std::unique_ptr<Engine> make_archive_engine() {
    return std::make_unique<ArchiveEngine>();
}

} // namespace mugaika::filters::cdr
